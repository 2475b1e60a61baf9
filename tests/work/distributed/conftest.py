"""Fixtures of the Ray tests (the clusters themselves: ray_clusters.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

from svlab.run.clip import unload_models

# The real `svlab serve` process of the task API's tests (tests/work/tasks/servers.py), shared.
sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))


@pytest.fixture(autouse=True, scope="module")
def _fresh_model_cache():
    yield
    unload_models()


@pytest.fixture
def photo_file(photo, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    return path

