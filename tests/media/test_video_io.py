"""Frames to MP4 and back, checked with ffprobe-level facts of real encodes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from svlab.core.errors import FFmpegError, InputError
from svlab.media import read_video, to_uint8_frames, write_video
from svlab.media import video_io
from svlab.media.ffmpeg import probe


def smooth_frames(t=6, h=48, w=64, seed=0):
    """Moving gradients: like real footage, unlike noise, they survive lossy coding well."""
    y, x = np.mgrid[0:h, 0:w]
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i, ..., 0] = x * 200 / w + 8 * i
        frames[i, ..., 1] = y * 255 / h
        frames[i, ..., 2] = 128 + 60 * np.sin((x + y + 3 * i + seed) / 9)
    return frames


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


# --- to_uint8_frames ---------------------------------------------------------------------

def test_uint8_array_is_returned_without_copy():
    frames = smooth_frames()
    assert to_uint8_frames(frames) is frames


def test_float_frames_are_scaled_and_rounded():
    frames = np.zeros((2, 4, 4, 3), np.float32)
    frames[0] = 1.0
    frames[1] = 0.5
    out = to_uint8_frames(frames)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 4, 3)
    assert (out[0] == 255).all() and (out[1] == 128).all()


def test_list_of_pil_images_and_arrays():
    grey = Image.new("L", (8, 6), 200)  # converted to RGB
    rgb = np.full((6, 8, 3), 7, np.uint8)
    out = to_uint8_frames([grey, rgb, rgb.astype(np.float64) / 255])
    assert out.shape == (3, 6, 8, 3)
    assert (out[0] == 200).all() and (out[1] == 7).all() and (out[2] == 7).all()


@pytest.mark.parametrize("frames, words", [
    (np.zeros((4, 4, 3), np.uint8), "wrap it in a list"),
    (np.zeros((2, 4, 4, 4), np.uint8), "(T, H, W, 3)"),
    (np.zeros((0, 4, 4, 3), np.uint8), "empty"),
    ([], "empty"),
    (np.full((1, 2, 2, 3), 1.5), "[0, 1]"),
    (np.full((1, 2, 2, 3), np.nan), "[0, 1]"),
    (np.zeros((1, 2, 2, 3), np.int16), "dtype int16"),
    ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], "one size"),
    ([np.zeros((4, 4), np.uint8)], "frame 0 must have shape"),
    ("frames.mp4", "got str"),
])
def test_bad_frames_are_refused_clearly(frames, words):
    with pytest.raises(InputError) as err:
        to_uint8_frames(frames)
    assert words in str(err.value)


# --- write_video / read_video ------------------------------------------------------------

def test_written_file_plays_everywhere(tmp_path):
    out = write_video(smooth_frames(t=7), tmp_path / "clip.mp4", 6)
    info = probe(out)
    assert (info["codec"], info["pixel_format"]) == ("h264", "yuv420p")
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (64, 48, 7, 6.0)
    assert info["duration"] == pytest.approx(7 / 6, abs=0.01)
    assert not info["has_audio"]
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: index first
    assert leftovers(tmp_path) == ["clip.mp4"]


def test_round_trip_is_close_and_keeps_fps(tmp_path):
    frames = smooth_frames()
    back, fps = read_video(write_video(frames, tmp_path / "a.mp4", 12.5))
    assert back.shape == frames.shape and back.dtype == np.uint8 and fps == 12.5
    assert np.abs(back.astype(int) - frames).mean() < 3
    back[0, 0, 0] = 1  # a writable array


def test_fractional_fps(tmp_path):
    info = probe(write_video(smooth_frames(t=4), tmp_path / "ntsc.mp4", 29.97))
    assert info["fps"] == pytest.approx(29.97, abs=1e-4)


def test_odd_size_is_padded_with_a_copy_of_the_edge(tmp_path):
    frames = smooth_frames(h=33, w=65)
    back, _ = read_video(write_video(frames, tmp_path / "odd.mp4", 6))
    assert back.shape == (6, 34, 66, 3)
    assert np.abs(back[:, :33, :65].astype(int) - frames).mean() < 3
    assert np.abs(back[:, :, 65].astype(int) - back[:, :, 64]).mean() < 1
    assert np.abs(back[:, 33].astype(int) - back[:, 32]).mean() < 1


@pytest.mark.parametrize("shape", [(5, 33, 65), (3, 48, 64)])
def test_lossless_gives_back_the_exact_frames(tmp_path, shape):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)  # noise: nothing to hide behind
    back, fps = read_video(write_video(frames, tmp_path / "exact.mp4", 6, lossless=True))
    assert fps == 6.0 and np.array_equal(back, frames)


def test_lossless_and_full_chroma(tmp_path):
    frames = np.random.default_rng(2).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    out = write_video(frames, tmp_path / "p.mp4", 6, lossless=True)
    assert np.array_equal(read_video(out)[0], frames)
    out = write_video(frames, tmp_path / "q.mp4", 6, pixel_format="yuv444p")
    assert probe(out)["pixel_format"] == "yuv444p"


def test_float_and_pil_inputs_are_written(tmp_path):
    floats = smooth_frames(t=3).astype(np.float32) / 255
    assert probe(write_video(floats, tmp_path / "f.mp4", 6))["frames"] == 3
    images = [Image.fromarray(f) for f in smooth_frames(t=4)]
    assert probe(write_video(images, tmp_path / "i.mp4", 6))["frames"] == 4


def test_a_generator_streams_frame_by_frame(tmp_path):
    out = write_video((f for f in smooth_frames(t=5)), tmp_path / "g.mp4", 6)
    assert probe(out)["frames"] == 5


def test_higher_crf_gives_a_smaller_file(tmp_path):
    frames = smooth_frames(t=4, h=96, w=128)
    best = write_video(frames, tmp_path / "best.mp4", 6, quality=0).stat().st_size
    worst = write_video(frames, tmp_path / "worst.mp4", 6, quality=40).stat().st_size
    assert worst < best


# --- atomic writes -----------------------------------------------------------------------

def failing_frames(exc):
    frames = smooth_frames(t=6)
    for i, frame in enumerate(frames):
        if i == 3:
            raise exc
        yield frame


@pytest.mark.parametrize("exc", [RuntimeError("generator broke"), KeyboardInterrupt()])
def test_failure_mid_write_leaves_nothing(tmp_path, exc):
    with pytest.raises(type(exc)):
        write_video(failing_frames(exc), tmp_path / "clip.mp4", 6)
    assert leftovers(tmp_path) == []


def test_failure_keeps_the_previous_file(tmp_path):
    old = tmp_path / "clip.mp4"
    old.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        write_video(failing_frames(RuntimeError("boom")), old, 6)
    assert old.read_bytes() == b"previous result"
    assert leftovers(tmp_path) == ["clip.mp4"]


def test_ffmpeg_error_names_the_cause_and_leaves_nothing(tmp_path, monkeypatch):
    real = video_io.encode_args
    monkeypatch.setattr(video_io, "encode_args",
                        lambda *a, **k: real(*a, **k) + ["-c:v", "no_such_encoder"])
    with pytest.raises(FFmpegError) as err:
        write_video(smooth_frames(), tmp_path / "clip.mp4", 6)
    assert "no_such_encoder" in str(err.value)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kwargs, words", [
    (dict(fps=0), "fps must be a positive number"),
    (dict(fps=float("nan")), "fps must be a positive number"),
    (dict(fps=6, quality=60), "CRF from 0 to 51"),
    (dict(fps=6, pixel_format="rgb24"), "accepted: yuv420p, yuv444p"),
])
def test_bad_settings_are_refused_before_writing(tmp_path, kwargs, words):
    with pytest.raises(InputError) as err:
        write_video(smooth_frames(), tmp_path / "clip.mp4", **kwargs)
    assert words in str(err.value)
    assert leftovers(tmp_path) == []


def test_only_mp4_names(tmp_path):
    with pytest.raises(InputError, match="accepted suffixes: .mp4"):
        write_video(smooth_frames(), tmp_path / "clip.avi", 6)


def test_missing_output_folder(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_video(smooth_frames(), tmp_path / "no" / "clip.mp4", 6)


def test_read_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_video(tmp_path / "none.mp4")
