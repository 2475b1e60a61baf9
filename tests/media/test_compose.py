"""Captions and music, checked on real ffmpeg encodes of tiny lavfi-made media."""

from __future__ import annotations

import numpy as np
import pytest

from svlab.core.errors import FFmpegError, InputError
from svlab.media.compose import (
    Caption, add_music, burn_subtitles, format_srt, format_vtt, write_subtitles,
)
from svlab.media.ffmpeg import probe, run_ffmpeg

W, H = 192, 108


def _video(path, seconds=2.0, color="black", fps=6):
    run_ffmpeg(["-y", "-f", "lavfi", "-i", f"color=c={color}:size={W}x{H}:rate={fps}",
                "-t", seconds, "-c:v", "libx264", "-pix_fmt", "yuv420p", path])
    return path


def _tone(path, seconds, source="sine=frequency=440:sample_rate=48000"):
    run_ffmpeg(["-y", "-f", "lavfi", "-i", source, "-t", seconds, path])
    return path


def _frames(path):
    proc = run_ffmpeg(["-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"])
    return np.frombuffer(proc.stdout, np.uint8).reshape(-1, H, W)


def _audio(path):
    """Mono float samples at 48 kHz of the first audio stream, and the sample rate."""
    proc = run_ffmpeg(["-i", path, "-map", "0:a:0", "-f", "f32le", "-ac", "1", "-ar", "48000",
                       "-"])
    return np.frombuffer(proc.stdout, np.float32), 48000


CAPTIONS = [Caption(0.0, 1.0, "森林探险"), Caption(1.0, 2.5, "A fox <runs> & hides")]


def test_sidecar_formats():
    srt = format_srt(CAPTIONS)
    assert srt.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,000", "森林探险"]
    assert "2\n00:00:01,000 --> 00:00:02,500\nA fox <runs> & hides" in srt
    vtt = format_vtt(CAPTIONS)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n森林探险\n")
    assert "A fox &lt;runs> &amp; hides" in vtt  # markup characters escaped for browsers


def test_long_times_and_blank_lines():
    srt = format_srt([Caption(3725.25, 3726.0, "one\n\n two")])
    assert "01:02:05,250 --> 01:02:06,000\none\ntwo\n" in srt


def test_bad_caption_times():
    with pytest.raises(InputError, match="end after it starts"):
        Caption(2.0, 1.0, "x")


def test_write_subtitles_beside_video(tmp_path):
    paths = write_subtitles(CAPTIONS, tmp_path / "film.mp4")
    assert paths == {"vtt": tmp_path / "film.vtt", "srt": tmp_path / "film.srt"}
    assert paths["srt"].read_text(encoding="utf-8") == format_srt(CAPTIONS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.srt", "film.vtt"]


def test_burned_in_chinese_renders_real_glyphs(tmp_path):
    video = _video(tmp_path / "black.mp4", seconds=1.0)
    outs = []
    for i, text in enumerate(["森林", "探险"]):
        srt = tmp_path / f"c{i}.srt"
        srt.write_text(format_srt([Caption(0.0, 1.0, text)]), encoding="utf-8")
        outs.append(burn_subtitles(video, srt, tmp_path / f"out{i}.mp4", font_size=40))
    plain, a, b = _frames(video), _frames(outs[0]), _frames(outs[1])
    assert plain.max() < 30  # black input
    # Bright caption pixels appear in the lower part of the frame only.
    assert a[:, H // 2:].max() > 200 and a[:, : H // 4].max() < 30
    # A missing glyph is drawn as the same box for every character: different Chinese
    # words giving different pixels proves the CJK font was found and used.
    assert np.abs(a[:, H // 2:].astype(int) - b[:, H // 2:].astype(int)).mean() > 1.0
    info = probe(outs[0])
    assert (info["width"], info["height"], info["frames"]) == (W, H, 6)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_burn_path_with_awkward_characters(tmp_path):
    folder = tmp_path / "it's a [test], ok; 100%:"
    folder.mkdir()
    video = _video(folder / "v.mp4", seconds=0.5)
    srt = folder / "c.srt"
    srt.write_text(format_srt([Caption(0.0, 0.5, "hi")]), encoding="utf-8")
    out = burn_subtitles(video, srt, folder / "o.mp4", font_size=40)
    assert _frames(out).max() > 100  # the caption was drawn


@pytest.mark.parametrize("music_seconds", [0.7, 5.0])  # looped, trimmed
def test_music_fits_the_video(tmp_path, music_seconds):
    video = _video(tmp_path / "v.mp4", seconds=3.0)
    music = _tone(tmp_path / "m.wav", music_seconds)
    out = add_music(video, music, tmp_path / "out.mp4", volume=0.5, fade_in=0.5, fade_out=0.5)
    info = probe(out)
    assert info["has_audio"] and info["audio_codec"] == "aac"
    assert info["frames"] == 18
    samples, rate = _audio(out)
    assert len(samples) / rate == pytest.approx(3.0, abs=0.05)
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    middle = samples[int(1.2 * rate):int(1.8 * rate)]
    # A sine at full scale has rms 1/sqrt(2); lavfi's sine is at 1/8 amplitude, then halved.
    assert rms(middle) == pytest.approx(0.125 / 2 / np.sqrt(2), rel=0.15)
    assert rms(samples[: int(0.05 * rate)]) < rms(middle) / 4  # fades in
    assert rms(samples[-int(0.05 * rate):]) < rms(middle) / 4  # fades out
    # Looping keeps sound going past the end of a short file.
    assert rms(samples[int(2.0 * rate):int(2.3 * rate)]) > rms(middle) / 2
    # The video stream is copied bit for bit.
    assert np.array_equal(_frames(out), _frames(video))


def test_music_replaces_existing_audio_and_noise_source(tmp_path):
    video = _video(tmp_path / "v.mp4", seconds=1.0)
    with_audio = tmp_path / "va.mp4"
    run_ffmpeg(["-y", "-i", video, "-f", "lavfi", "-i", "sine=frequency=1000", "-t", "1",
                "-c:v", "copy", "-c:a", "aac", with_audio])
    noise = _tone(tmp_path / "n.wav", 2, source="anoisesrc=color=pink:amplitude=0.3")
    out = add_music(with_audio, noise, tmp_path / "out.mp4", fade_in=0, fade_out=0)
    samples, rate = _audio(out)
    assert len(samples) / rate == pytest.approx(1.0, abs=0.05)
    # Only one audio stream, and it is the noise (broadband), not the 1 kHz tone.
    header = run_ffmpeg(["-i", out, "-f", "null", "-"]).stderr.decode()
    assert header.count("Audio:") == 2  # one input stream, one output stream
    spectrum = np.abs(np.fft.rfft(samples[:rate // 2]))
    assert spectrum[500] < spectrum.max() / 2  # 1 kHz bin is not dominant


def test_music_bad_inputs_leave_nothing(tmp_path):
    video = _video(tmp_path / "v.mp4", seconds=1.0)
    with pytest.raises(InputError, match="music file"):
        add_music(video, tmp_path / "missing.wav", tmp_path / "o.mp4")
    with pytest.raises(InputError, match="volume"):
        add_music(video, video, tmp_path / "o.mp4", volume=-1)
    with pytest.raises(FFmpegError, match="adding music"):  # a video has no audio stream
        add_music(video, video, tmp_path / "o.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]
