"""Tasks: a prompt or storyboard in, a finished video out, through SQLite and one worker.

`svlab.tasks.api.create_app` (FastAPI, an optional dependency, so not imported here) is what
`svlab serve` runs; see docs/api.md.
"""

from .store import TaskStore
from .worker import Cancelled, Interrupted, Worker

__all__ = ["Cancelled", "Interrupted", "TaskStore", "Worker"]
