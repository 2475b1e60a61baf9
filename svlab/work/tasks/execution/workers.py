"""The one interface the task server holds its workers by: local workers (`local_worker.Worker`,
a runner process each) and the Ray dispatcher (`ray_workers.RayWorkers`) both implement it, so
the HTTP side knows no kind of worker by name.

The shared part (a background thread started once, woken when a task is queued, stopped with a
join) lives here once; a kind of worker writes its loop, its cancel and its views.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any


class TaskWorkers(ABC):
    """Runs queued tasks in a background thread until `stop()`."""

    thread_name = "svlab-worker"

    def __init__(self) -> None:
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A task was queued: look at the queue now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop: tasks in flight go back to the queue, the runners or workers end."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @abstractmethod
    def cancel(self, task_id: str) -> None:
        """Stop the run of `task_id` now, if it is one of these workers'."""

    @abstractmethod
    def views(self) -> list[dict[str, Any]]:
        """Each worker as GET /api/health shows it: name, state, task, model, gpu."""

    @abstractmethod
    def _loop(self) -> None:
        """The background thread: take queued tasks and run them until `_stop` is set."""
