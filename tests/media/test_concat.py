"""Concatenation: packets really copied when the clips allow it, one re-encode otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from svlab.core.errors import FFmpegError, InputError
from svlab.media import concat_videos, probe, read_video, write_video
from svlab.media import concat as concat_module
from svlab.media.ffmpeg import packets, run_ffmpeg


def clip(path, *, frames=6, width=64, height=48, fps=6, shade=0):
    y, x = np.mgrid[0:height, 0:width]
    data = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        data[i, ..., 0] = (x * 3 + 10 * i + shade) % 256
        data[i, ..., 1] = (y * 4 + shade) % 256
        data[i, ..., 2] = shade
    return write_video(data, path, fps)


def checksums(path):
    return [p.checksum for p in packets(path)]


def test_compatible_clips_are_stream_copied(tmp_path):
    a, b, c = (clip(tmp_path / f"{n}.mp4", frames=f, shade=s)
               for n, f, s in (("a", 6, 0), ("b", 4, 90), ("c", 5, 180)))
    result = concat_videos([a, b, c], tmp_path / "out.mp4")
    assert result["method"] == "copy" and result["reason"] is None
    assert result["frames"] == 15 and result["fps"] == 6.0
    assert (result["codec"], result["pixel_format"], result["width"]) == ("h264", "yuv420p", 64)
    # the very same packets, in order: nothing was decoded or encoded again
    assert checksums(tmp_path / "out.mp4") == checksums(a) + checksums(b) + checksums(c)
    info = probe(tmp_path / "out.mp4")
    assert (info["frames"], info["fps"], info["codec"], info["pixel_format"]) == \
        (15, 6.0, "h264", "yuv420p")
    assert info["duration"] == pytest.approx(15 / 6, abs=0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "c.mp4", "out.mp4"]


def test_mp4_headers_decide_without_running_ffmpeg(tmp_path):
    a, b = clip(tmp_path / "a.mp4", frames=6), clip(tmp_path / "b.mp4", frames=4, shade=99)
    assert concat_module._matching_mp4_headers([a, b]) == (6.0, [6, 4])  # bit rates differ
    c = clip(tmp_path / "c.mp4", width=32)
    assert concat_module._matching_mp4_headers([a, c]) is None
    d = clip(tmp_path / "d.mp4", fps=12)
    assert concat_module._matching_mp4_headers([a, d]) is None


def test_other_containers_are_checked_by_ffmpeg_and_copied(tmp_path):
    clips = []
    for name, shade in (("a", 0), ("b", 120)):
        mp4 = clip(tmp_path / f"{name}.mp4", shade=shade)
        clips.append(tmp_path / f"{name}.mkv")
        run_ffmpeg(["-y", "-i", mp4, "-c", "copy", clips[-1]])
    result = concat_videos(clips, tmp_path / "out.mp4")
    assert result["method"] == "copy" and result["frames"] == 12
    assert result["pixel_format"] == "yuv420p" and result["width"] == 64
    assert checksums(tmp_path / "out.mp4") == checksums(clips[0]) + checksums(clips[1])


def test_different_sizes_are_reencoded_to_the_first(tmp_path):
    a = clip(tmp_path / "a.mp4", width=64, height=48)
    b = clip(tmp_path / "b.mp4", width=32, height=32, shade=200, frames=3)
    result = concat_videos([a, b], tmp_path / "out.mp4")
    assert result["method"] == "reencode" and "width" in result["reason"]
    info = probe(tmp_path / "out.mp4")
    assert (info["width"], info["height"], info["frames"], info["pixel_format"]) == \
        (64, 48, 9, "yuv420p")
    frames, _ = read_video(tmp_path / "out.mp4")
    assert frames[7, 24, :4].max() < 30  # the square clip is letterboxed (pillarboxed) in black
    assert frames[7, 24, 32].mean() > 60


def test_different_fps_follow_the_first_clip(tmp_path):
    a = clip(tmp_path / "a.mp4", frames=6, fps=6)  # 1 s
    b = clip(tmp_path / "b.mp4", frames=12, fps=12)  # 1 s
    result = concat_videos([a, b], tmp_path / "out.mp4")
    assert result["method"] == "reencode" and "fps" in result["reason"]
    assert (result["fps"], result["frames"]) == (6.0, 12)


def test_crossfade_blends_and_shortens(tmp_path):
    a = clip(tmp_path / "a.mp4", frames=12, shade=0)
    b = clip(tmp_path / "b.mp4", frames=12, shade=250)
    result = concat_videos([a, b], tmp_path / "out.mp4", crossfade=1.0)
    assert result["method"] == "reencode" and result["reason"] == "crossfade"
    assert result["frames"] == 18  # 2 s + 2 s - 1 s of overlap, at 6 fps
    blue = read_video(tmp_path / "out.mp4")[0][..., 2].mean(axis=(1, 2))
    assert blue[0] < 30 and blue[-1] > 220
    assert 30 < blue[9] < 220  # mid-fade: a mix of both


def test_crossfade_longer_than_a_clip_is_refused(tmp_path):
    a, b = clip(tmp_path / "a.mp4"), clip(tmp_path / "b.mp4")
    with pytest.raises(InputError, match="crossfade of 5s does not fit"):
        concat_videos([a, b], tmp_path / "out.mp4", crossfade=5)
    assert not (tmp_path / "out.mp4").exists()


def test_audio_is_kept_and_silence_fills_clips_without(tmp_path):
    a = clip(tmp_path / "a.mp4")
    b = tmp_path / "b.mp4"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=6", "-f", "lavfi",
                "-i", "sine", "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-shortest", b])
    result = concat_videos([a, b], tmp_path / "out.mp4")
    assert result["method"] == "reencode" and "audio_codec" in result["reason"]
    assert result["has_audio"] and result["audio_codec"] == "aac" and result["frames"] == 12


def test_bad_inputs(tmp_path):
    a = clip(tmp_path / "a.mp4")
    with pytest.raises(InputError, match="list of one or more"):
        concat_videos([], tmp_path / "out.mp4")
    with pytest.raises(InputError, match="does not exist"):
        concat_videos([a, tmp_path / "missing.mp4"], tmp_path / "out.mp4")
    with pytest.raises(InputError, match="crossfade must be"):
        concat_videos([a, a], tmp_path / "out.mp4", crossfade=-1)
    with pytest.raises(InputError, match="output folder"):
        concat_videos([a, a], tmp_path / "no" / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_failed_reencode_leaves_the_old_output_alone(tmp_path, monkeypatch):
    a = clip(tmp_path / "a.mp4")
    b = clip(tmp_path / "b.mp4", width=32)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous")

    def broken(args, what="ffmpeg"):
        run_ffmpeg([*args[:-4], "-c:v", "no_such_encoder", *args[-4:]], what=what)

    monkeypatch.setattr(concat_module, "run_ffmpeg", broken)
    with pytest.raises(FFmpegError, match="no_such_encoder"):
        concat_videos([a, b], out)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4", "out.mp4"]


@pytest.mark.parametrize("crossfade", [0.0, 0.25])
def test_any_file_name_is_safe(tmp_path, monkeypatch, crossfade):
    """Quotes, a newline, a leading "-" and a "proto:" prefix are names, never syntax."""
    monkeypatch.chdir(tmp_path)
    names = ["it's.mp4", "two\nlines.mp4", "-starts-with-dash.mp4", "file:colon.mp4"]
    clips = [clip(tmp_path / name, shade=40 * i) for i, name in enumerate(names)]
    from pathlib import Path

    result = concat_videos([Path(n) for n in names], Path("-out.mp4"), crossfade=crossfade)
    assert result["method"] == ("copy" if crossfade == 0 else "reencode")
    assert probe(tmp_path / "-out.mp4")["frames"] == result["frames"] > 12
    if crossfade == 0:
        assert checksums(tmp_path / "-out.mp4") == [c for p in clips for c in checksums(p)]
