import os

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session", autouse=True)
def _offline_model_store(tmp_path_factory):
    """No test reads or writes the user's model or plan caches or run index, and none may
    download: the tiny model is built once per session into a private store that `model="tiny"`
    finds."""
    store = tmp_path_factory.mktemp("svlab-models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVLAB_MODELS_DIR", str(store))
        mp.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("SVLAB_PLAN_CACHE", str(tmp_path_factory.mktemp("svlab-plans")))
        mp.setenv("SVLAB_RUNS_INDEX", str(tmp_path_factory.mktemp("svlab-runs") / "runs.sqlite"))
        for name in ("HF_HUB_CACHE", "SVLAB_MODEL", "SVLAB_ALLOW_DOWNLOAD"):
            mp.delenv(name, raising=False)
        yield store


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A small RGB picture with structure (gradient, a square, a disc) for the encoders."""
    y, x = np.mgrid[0:96, 0:128]
    rgb = np.stack([x * 2, y * 2, np.full_like(x, 100)], axis=-1).astype(np.uint8)
    rgb[20:50, 30:60] = (230, 40, 40)
    rgb[(y - 60) ** 2 + (x - 95) ** 2 < 15**2] = (30, 200, 60)
    return rgb


@pytest.fixture
def photo_file(photo, tmp_path):
    """`photo` saved as tmp_path/photo.png, as a user's image file."""
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    return path


@pytest.fixture
def tiny_config():
    """The cpu-tiny profile at 4 frames: every stage of the real pipeline in about a second."""
    from svlab.run.settings import load_config

    return load_config("cpu-tiny", overrides={"num_frames": 4})


def pytest_configure(config):
    os.environ.setdefault("TQDM_DISABLE", "1")
    # The tiny models are too small to gain from threads, and on a loaded 2-core machine
    # OpenMP's spinning threads make them many times slower.
    import torch

    torch.set_num_threads(1)
