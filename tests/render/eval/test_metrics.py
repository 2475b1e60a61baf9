"""Every metric on frames whose answer is known: a still sequence, a known shift, a copied
input frame, a flickering sequence, a blurred copy, black and NaN frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from svlab.core.errors import InputError
from svlab.render.eval.metrics import (
    broken_frames, fidelity, motion, motion_smoothness, sharpness, temporal_flicker,
    video_metrics,
)

SIZE = 96  # frames are SIZE x SIZE


def texture(side: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture: structure at every scale that flow can lock onto."""
    rng = np.random.default_rng(seed)
    noise = rng.random((side, side, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.5)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).round().astype(np.uint8)


def panning(dx: int, dy: int, count: int = 6) -> np.ndarray:
    """Frames cut from a larger texture at a window moving (dx, dy) pixels per frame: a true
    translation, nothing wrapped around."""
    big = texture(SIZE + count * max(abs(dx), abs(dy)) + 2)
    x0, y0 = (0 if dx >= 0 else -dx * count), (0 if dy >= 0 else -dy * count)
    return np.stack([big[y0 + i * dy:y0 + i * dy + SIZE, x0 + i * dx:x0 + i * dx + SIZE]
                     for i in range(count)])


@pytest.fixture(scope="module")
def still() -> np.ndarray:
    return np.repeat(texture(SIZE)[None], 5, axis=0)


def test_a_still_sequence_has_no_motion_and_no_flicker(still):
    m = video_metrics(still, still[0])
    assert m.motion_px == pytest.approx(0, abs=1e-3) and m.motion_rel == pytest.approx(0, abs=1e-5)
    assert m.flicker == pytest.approx(0, abs=1e-3)
    assert m.smoothness_psnr == math.inf  # every middle frame predicted exactly
    assert (m.fidelity_psnr, m.fidelity_ssim) == (math.inf, 1.0)
    assert (m.nan_frames, m.black_frames, m.frames) == (0, 0, 5)


@pytest.mark.parametrize("dx, dy", [(3, 0), (2, -2), (0, 4)])
def test_a_known_shift_has_the_known_flow(dx, dy):
    frames = panning(dx, dy)
    px, rel = motion(frames)
    assert px == pytest.approx(math.hypot(dx, dy), rel=0.08)
    assert rel == pytest.approx(px / math.hypot(SIZE, SIZE))
    assert temporal_flicker(frames) < 2.0  # motion compensated: moving is not flickering
    assert motion_smoothness(frames) > 30.0  # uniform motion: middle frames predictable


def test_flicker_counts_brightness_changes_but_not_motion():
    base = panning(2, 0).astype(np.int16)
    flicker = base.copy()
    flicker[1::2] += 24  # every other frame brighter: the flicker VBench means
    flicker = np.clip(flicker, 0, 255).astype(np.uint8)
    assert temporal_flicker(flicker) > 15
    assert temporal_flicker(base.astype(np.uint8)) < 2


def test_jerky_motion_is_less_smooth_than_uniform_motion():
    uniform = panning(3, 0, count=7)
    big = texture(SIZE + 40)
    offsets = [0, 1, 9, 10, 18, 19, 27]  # the same mean speed, in jerks
    jerky = np.stack([big[:SIZE, o:o + SIZE] for o in offsets])
    assert motion_smoothness(jerky) < motion_smoothness(uniform) - 5


def test_a_copied_input_frame_has_perfect_fidelity_and_a_changed_one_does_not(still):
    image = still[0]
    assert fidelity(image.copy(), image) == (math.inf, 1.0)
    noisy = np.clip(image.astype(np.int16) + np.random.default_rng(1).integers(
        -20, 21, image.shape), 0, 255).astype(np.uint8)
    psnr, ssim = fidelity(noisy, image)
    assert 20 < psnr < 30 and 0 < ssim < 0.95
    with pytest.raises(InputError, match="image at the frame's size"):
        fidelity(image, image[:-8])


def test_sharpness_falls_with_blur_and_is_zero_on_a_flat_frame(still):
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2) for f in still])
    assert sharpness(blurred) < sharpness(still) / 2
    assert sharpness(np.full((2, 16, 16, 3), 128, np.uint8)) == 0.0


def test_black_and_nan_frames_are_counted(still):
    floats = still.astype(np.float32) / 255
    floats[1] = 0.0  # black
    floats[3, 5, 5, 0] = np.nan  # one NaN pixel spoils the frame
    assert broken_frames(floats) == (1, 1)
    frames = still.copy()
    frames[2] = 10  # dark grey, below video black
    assert broken_frames(frames) == (0, 1)
    m = video_metrics(floats)  # float frames are measured too; NaN pixels count as 0
    assert (m.nan_frames, m.black_frames) == (1, 1)
    assert math.isnan(m.fidelity_psnr)  # no input image, no fidelity


def test_short_clips_and_bad_shapes():
    one = texture(32)[None]
    m = video_metrics(one)
    assert (m.motion_px, m.flicker) == (0.0, 0.0) and math.isnan(m.smoothness_psnr)
    with pytest.raises(InputError, match=r"shape \(T, H, W, 3\)"):
        video_metrics(one[0])
