"""Tasks: a prompt or storyboard in, a finished video out, through SQLite, workers and their
runner processes.

`create_app` (FastAPI) is what `svlab serve` runs; see docs/api.md.
"""

from .limits import ServerLimits
from .store import TaskStore
from .worker import Worker


def create_app(*args, **kwargs):
    """The FastAPI application (imported on use: FastAPI is an optional dependency)."""
    from .api import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["ServerLimits", "TaskStore", "Worker", "create_app"]
