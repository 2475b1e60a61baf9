"""Probing real files made by the bundled ffmpeg: exact facts, and clear errors."""

from __future__ import annotations

import imageio_ffmpeg
import pytest

from svlab.core.errors import FFmpegError, InputError
from svlab.media.ffmpeg import ffmpeg_exe, packets, probe, run_ffmpeg


def lavfi_clip(path, *, seconds=2, rate="6", size="96x64", audio=False):
    args = ["-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440", "-c:a", "aac", "-shortest"]
    run_ffmpeg([*args, "-t", seconds, "-c:v", "libx264", "-pix_fmt", "yuv420p", path])
    return path


def test_the_bundled_binary_is_used():
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_probe_gives_exact_facts(tmp_path):
    info = probe(lavfi_clip(tmp_path / "a.mp4", seconds=2, rate="30000/1001"))
    assert info["codec"] == "h264" and info["pixel_format"] == "yuv420p"
    assert (info["width"], info["height"]) == (96, 64)
    assert info["frames"] == 60  # counted, not estimated from duration
    assert info["fps"] == pytest.approx(30000 / 1001, abs=1e-6)
    assert info["duration"] == pytest.approx(2.0, abs=0.05)
    assert info["has_audio"] is False and info["audio_codec"] is None


def test_probe_sees_audio(tmp_path):
    info = probe(lavfi_clip(tmp_path / "a.mp4", audio=True))
    assert info["has_audio"] is True and info["audio_codec"] == "aac"
    assert info["frames"] == 12


def test_packets_list_every_frame(tmp_path):
    listed = packets(lavfi_clip(tmp_path / "a.mp4"))
    assert len(listed) == 12
    assert all(p.size > 0 and p.checksum.startswith("0x") for p in listed)


def test_missing_unreadable_and_videoless_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="cannot read video file"):
        probe(garbage)
    sound = tmp_path / "sound.m4a"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "sine", "-t", "0.5", sound])
    with pytest.raises(InputError, match="has no video stream"):
        probe(sound)


def test_run_ffmpeg_reports_the_end_of_stderr():
    with pytest.raises(FFmpegError) as err:
        run_ffmpeg(["-f", "lavfi", "-i", "nosuchfilter", "-f", "null", "-"], what="a test job")
    assert "a test job failed" in str(err.value) and "nosuchfilter" in str(err.value)


@pytest.mark.parametrize("keep", [1000, -100])
def test_a_truncated_video_is_unreadable_not_short(tmp_path, keep):
    """A download cut short must not pass for a video of fewer frames."""
    import numpy as np

    from svlab.media import write_video

    whole = write_video(np.full((10, 64, 64, 3), 50, np.uint8), tmp_path / "whole.mp4", 6)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:keep])
    with pytest.raises(InputError, match="is unreadable: .*truncated or damaged"):
        probe(cut)
    assert probe(whole)["frames"] == 10
