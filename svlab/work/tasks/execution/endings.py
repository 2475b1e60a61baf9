"""How a task's run ended, recorded in the store: the one place that turns an end (succeeded,
failed, cancelled, timed out, interrupted) into the store's state and the data folder's
result. The local worker (worker.py) and the Ray workers (ray_workers.py) both end runs here.

Succeeded only through `TaskStore.complete`, which puts the result folder in place and checks
the cancel flag in one transaction, so a cancelled task never ends as succeeded. When the disk
is full and the end cannot be recorded, the result is dropped to free space and the failure is
recorded as soon as it can be.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any, Callable

from svlab.work.tasks.execution.faults import STORAGE_FULL, is_storage_full
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.execution.task_runner import Outcome
from svlab.work.tasks.execution.store import TaskStore

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # between attempts to record an end while the disk is full
CANCELLED = "cancelled by a DELETE request"
DIED = "the process running the task ended unexpectedly (out of memory?); see the server log"


class Endings:
    """Records ends of runs into `store` and `data`; `stopping` is the server's stop event
    (a write that waits for disk space gives up when it is set)."""

    def __init__(self, store: TaskStore, data: DataFolder, *, task_timeout: float,
                 stopping: threading.Event, name: str):
        self.store, self.data, self.task_timeout = store, data, task_timeout
        self.stopping, self.name = stopping, name

    def record_end(self, task_id: str, reason: str | None, outcome: Outcome | None,
                   staging: Path | None) -> None:
        """Record how a run ended: `reason` is why it was stopped ("cancel", "timeout",
        "requeue" when the server stops, None), `outcome` what the run said (None: it died).
        What the run wrote in `staging` is removed first, unless it succeeded."""
        if reason is None and outcome is not None and outcome.status == "succeeded":
            self.complete(task_id, outcome.manifest, staging)
            return
        remove_staging(staging)
        if reason == "requeue":
            self.record(lambda: self.store.requeue(task_id))
        elif reason == "cancel":
            self.record(lambda: self.store.finish(task_id, "cancelled", error=CANCELLED))
        elif reason == "timeout":
            self.record(lambda: self.store.finish(
                task_id, "failed", error=f"stopped: ran past this server's time limit of "
                f"{self.task_timeout:g} s per task (svlab serve --task-timeout)"))
        elif outcome is None:
            self.record(lambda: self.store.finish(task_id, "failed", error=DIED))
        else:
            self.record(lambda: self.store.finish(task_id, "failed", error=outcome.error))

    def complete(self, task_id: str, manifest: dict[str, Any], staging: Path) -> None:
        """Publish and record a success; a cancellation that came first wins."""
        try:
            done = self.store.complete(task_id, manifest,
                                       lambda: self.data.publish(staging, task_id))
        except Exception as e:
            remove_staging(staging)
            self.data.unpublish(task_id)  # an unrecorded result is no result; frees space
            if not is_storage_full(e):
                raise
            log.error("%s: cannot record task %s: %s", self.name, task_id, e)
            error = f"{STORAGE_FULL}; the result could not be recorded"
            self.record(lambda: self.store.finish(task_id, "failed", error=error))
            return
        if not done:
            remove_staging(staging)
            self.record(lambda: self.store.finish(task_id, "cancelled", error=CANCELLED))

    def record(self, write: Callable[[], None]) -> None:
        """Write to the store. While its disk is full: release the data folder's space
        reserve and try again at once, then every RETRY_SECONDS until stopped (a task left
        running is then recovered at the next start)."""
        while True:
            try:
                write()
                return
            except Exception as e:
                if not is_storage_full(e):
                    raise
                if not self.data.release_reserve():
                    log.error("%s: cannot write to the store (%s); retrying", self.name, e)
                    if self.stopping.wait(RETRY_SECONDS):
                        raise


def remove_staging(staging: Path | None) -> None:
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
