"""Tasks: a prompt or storyboard in, a finished video out, through SQLite, workers and their
runner processes.

`svlab.tasks.api.create_app` (FastAPI, an optional dependency, so not imported here) is what
`svlab serve` runs; see docs/api.md.
"""

from .limits import ServerLimits
from .store import TaskStore
from .worker import Worker

__all__ = ["ServerLimits", "TaskStore", "Worker"]
