import os
import signal

import pytest
from servers import Server

from svlab.run.settings import load_config

# Runner processes and servers started by these tests inherit this: the tiny models gain
# nothing from threads, and OpenMP's spinning threads slow a loaded 2-core machine down.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The fallback engine at a tiny size: a task takes about a second on a busy CPU.
FAST = dict(model="fallback", width=64, height=64, num_frames=6, fps=6)


@pytest.fixture
def config():
    return load_config("cpu-tiny", overrides=FAST)


@pytest.fixture
def serve(tmp_path):
    """Start real servers (`serve(*flags, data=..., ...)`); all are stopped at the end."""
    servers = []

    def start(*flags, data=None, **options):
        server = Server(data or tmp_path / "data", *flags, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(signal.SIGKILL)
