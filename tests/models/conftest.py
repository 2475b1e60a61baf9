import numpy as np
import pytest
from PIL import Image

from svlab.models import write_tiny_model


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """The tiny checkpoint, written once per session in the diffusers layout."""
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(autouse=True)
def offline_env(tmp_path, monkeypatch):
    """Every test sees empty model stores of its own and no permission to download."""
    monkeypatch.setenv("SVLAB_MODELS_DIR", str(tmp_path / "svlab-models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("SVLAB_MODEL", raising=False)
    monkeypatch.delenv("SVLAB_ALLOW_DOWNLOAD", raising=False)


@pytest.fixture(scope="session")
def image():
    """A 64x64 RGB gradient with a square: some structure for the encoders to see."""
    y, x = np.mgrid[0:64, 0:64]
    rgb = np.stack([x * 4, y * 4, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    rgb[20:44, 20:44] = (240, 30, 30)
    return Image.fromarray(rgb)
