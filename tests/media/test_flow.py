"""The flow method on real photographs moved by a known amount: it restores motion far better
than a blend; a scene cut gives one side, a fade or a change of brightness is matched before
warping, repeated frames stay exact; on cuts, fades, brightness changes and large shifts it does
at least as well as ffmpeg's minterpolate and the blend."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

import svlab
from svlab.media.flow import FlowInterpolator
from svlab.media.pairs import blend_pair


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(a, b, data_range=255))


def window(image: np.ndarray, dx: int, dy: int = 0, size=(120, 160)) -> np.ndarray:
    h, w = size
    return image[100 + dy:100 + dy + h, 120 + dx:120 + dx + w]


@pytest.mark.parametrize("dx, dy", [(6, 0), (4, -4), (8, 2)])
def test_restores_known_motion_far_better_than_blend(dx, dy):
    image = data.astronaut()
    frames = np.stack([window(image, k * dx, k * dy) for k in range(3)])
    made = svlab.interpolate(frames[::2], 2, "flow")[1]
    blended = svlab.interpolate(frames[::2], 2, "blend")[1]
    truth = frames[1]
    assert psnr(made, truth) > psnr(blended, truth) + 8
    assert psnr(made, truth) > 28  # the strip entering at the edge is unknowable


def test_quarter_times_follow_the_motion():
    image = data.coffee()
    frames = np.stack([window(image, k * 3) for k in range(5)])
    made = svlab.interpolate(frames[[0, 4]], 4, "flow")
    for k in (1, 2, 3):
        assert psnr(made[k], frames[k]) > psnr(blend_pair(frames[0], frames[4], k / 4),
                                               frames[k]) + 6


def test_moving_object_over_still_background():
    """A patch of one photo moves over another: occlusion at its edges must not ghost."""
    background = window(data.coffee(), 0)
    patch = window(data.astronaut(), 40, size=(40, 40))
    frames = []
    for k in range(3):
        frame = background.copy()
        frame[40:80, 30 + 8 * k:70 + 8 * k] = patch
        frames.append(frame)
    frames = np.stack(frames)
    made = svlab.interpolate(frames[::2], 2, "flow")[1]
    assert psnr(made, frames[1]) > psnr(blend_pair(frames[0], frames[2], 0.5), frames[1]) + 6


def test_scene_cut_takes_the_nearer_side():
    a = window(data.astronaut(), 0)
    b = window(data.coffee(), 0)
    interpolator = FlowInterpolator()
    assert interpolator.analyse(a, b).kind == "cut"
    quarter, half, late = interpolator.between(a, b, [0.25, 0.5, 0.75])
    np.testing.assert_array_equal(quarter, a)  # no motion before the cut to carry on
    np.testing.assert_array_equal(half, a)  # half-way: the earlier side, as minterpolate
    np.testing.assert_array_equal(late, b)


def test_duplicate_frames_stay_still():
    a = window(data.astronaut(), 0)
    b = a.copy()
    b[0, 0, 0] ^= 1  # a re-encode differs in a few pixels
    interpolator = FlowInterpolator()
    assert interpolator.analyse(a, b).kind == "duplicate"
    out = svlab.interpolate(np.stack([a, b, b]), 3, "flow")
    np.testing.assert_array_equal(out[1], blend_pair(a, b, 1 / 3))
    assert np.abs(out[1].astype(int) - a).max() <= 1


def test_no_worse_than_blend_on_noise():
    """Independent noise has no motion to find: the guards keep the result at the blend's
    quality instead of warping noise around."""
    rng = np.random.default_rng(0)
    base = window(data.astronaut(), 0).astype(np.int16)
    frames = np.stack([np.clip(base + rng.normal(0, 12, base.shape), 0, 255)
                       for _ in range(3)]).astype(np.uint8)
    made = svlab.interpolate(frames[::2], 2, "flow")[1]
    blended = blend_pair(frames[0], frames[2], 0.5)
    assert psnr(made, frames[1]) > psnr(blended, frames[1]) - 0.3


# -- cuts, fades, brightness and large motion, against minterpolate and the blend -------------

def crop(image: np.ndarray, dx: int, dy: int = 0, size=(240, 320), top=80, left=40):
    h, w = size
    return image[top + dy:top + dy + h, left + dx:left + dx + w]


def restored_psnr(frames: np.ndarray, method: str) -> float:
    """Drop every other frame, restore it at factor 2 with `method`, mean PSNR of those."""
    out = svlab.interpolate(frames[::2], 2, method)
    return float(np.mean([min(100.0, psnr(frames[k], out[k])) for k in range(1, len(frames), 2)]))


def panning_astronaut(num_frames: int, step: int = 4) -> list[np.ndarray]:
    return [crop(data.astronaut(), step * k) for k in range(num_frames)]


CASES = {
    # a pan over one photograph, then a cut to another; the dropped frame before the cut
    # continues the pan
    "cut": lambda: np.stack(panning_astronaut(4) + [crop(data.coffee(), 0)]),
    # a still photograph fading in from black over 13 frames
    "fade from black": lambda: np.stack(
        [np.round(crop(data.astronaut(), 0) * g).astype(np.uint8) for g in np.linspace(0, 1, 13)]),
    # a fast fade from black: the first kept frame after black shows the picture at 1/4
    "fast fade from black": lambda: np.stack(
        [np.round(crop(data.astronaut(), 0) * g).astype(np.uint8) for g in np.linspace(0, 1, 9)]),
    # the same while the camera pans
    "fade from black, panning": lambda: np.stack(
        [np.round(crop(data.astronaut(), 3 * k) * g).astype(np.uint8)
         for k, g in enumerate(np.linspace(0, 1, 13))]),
    # the exposure rises 15% a frame while the camera pans
    "brightness change": lambda: np.stack(
        [np.clip(crop(data.astronaut(), 5 * k) * (1 + 0.15 * k), 0, 255).astype(np.uint8)
         for k in range(5)]),
    # 40 pixels across and 12 down between the frames that are kept
    "large shift": lambda: np.stack(
        [crop(data.coffee(), 20 * k, 6 * k, size=(200, 300), top=40, left=20) for k in range(5)]),
}


@pytest.mark.parametrize("case", CASES)
def test_at_least_as_good_as_minterpolate_and_blend(case):
    frames = CASES[case]()
    flow = restored_psnr(frames, "flow")
    assert flow >= restored_psnr(frames, "minterpolate")
    assert flow >= restored_psnr(frames, "blend")


def test_cut_continues_the_earlier_motion():
    """Before the middle of a cut the earlier side is carried on along its motion: better than
    copying it."""
    pan = panning_astronaut(6, step=2)
    kept = np.stack([pan[0], pan[4], crop(data.coffee(), 0)])
    out = svlab.interpolate(kept, 4, "flow")  # out[5]: a quarter of the way into the cut
    assert psnr(out[5], pan[5]) > psnr(pan[4], pan[5]) + 5


def test_middle_of_a_cut_between_moving_shots_is_never_worse_than_the_blend():
    """Half-way through a cut the dropped frame may belong to either side: whichever it was,
    the result is at least as close as the blend's (a wrong pick would be 6 dB worse)."""
    pan = panning_astronaut(4)
    coffee = crop(data.coffee(), 0)
    kept = np.stack([pan[0], pan[2], coffee])
    middle = svlab.interpolate(kept, 2, "flow")[3]
    blended = blend_pair(pan[2], coffee, 0.5)
    for truth in (pan[3], coffee):  # the cut came after the dropped frame, or before it
        assert psnr(middle, truth) >= psnr(blended, truth) - 0.1
    assert psnr(middle, pan[3]) > psnr(blended, pan[3]) + 0.3  # the carried-on side helps


def test_fade_from_black_is_exact_on_a_still_picture():
    frames = CASES["fade from black"]()
    out = svlab.interpolate(frames[::2], 2, "flow")
    assert np.abs(out.astype(int) - frames).max() <= 1


def test_panning_fade_is_warped_not_blended():
    frames = CASES["fade from black, panning"]()
    assert restored_psnr(frames, "flow") > restored_psnr(frames, "blend") + 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_interpolates_with_threads_of_its_own():
    """flow keeps two worker threads; a child forked after it ran has none of them, and must
    not wait for them forever."""
    frames = np.stack([window(data.astronaut(), 0), window(data.astronaut(), 6)])
    svlab.interpolate(frames, 2, "flow")  # the parent's workers exist now
    pid = os.fork()
    if pid == 0:  # the child: exit 0 once it has interpolated
        try:
            svlab.interpolate(frames, 2, "flow")
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung waiting for its parent's flow threads")
