"""Tasks: a prompt or storyboard in, a finished video out, through SQLite, workers and their
runner processes.

`svlab.work.tasks.api.app.create_app` (FastAPI, an optional dependency, so not imported here) is what
`svlab serve` runs; see docs/api.md.
"""

from svlab.work.tasks.api.limits import ServerLimits
from svlab.work.tasks.execution.store import TaskStore
from svlab.work.tasks.execution.local_worker import Worker

__all__ = ["ServerLimits", "TaskStore", "Worker"]
