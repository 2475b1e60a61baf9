import pytest

from svlab.config import load_config

# The fallback engine at a tiny size: a task takes about a second on a busy CPU.
FAST = dict(model="fallback", width=64, height=64, num_frames=6, fps=6)


@pytest.fixture
def config():
    return load_config("cpu-tiny", overrides=FAST)
