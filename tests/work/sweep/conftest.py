import numpy as np
import pytest
from PIL import Image

from svlab.run.clip import unload_models

@pytest.fixture(autouse=True, scope="module")
def _fresh_model_cache():
    """The tests of a module share the loaded tiny model; the next module starts afresh."""
    yield
    unload_models()


@pytest.fixture
def other_photo(photo, tmp_path):
    path = tmp_path / "other.png"
    Image.fromarray(np.ascontiguousarray(photo[:, ::-1])).save(path)
    return path
