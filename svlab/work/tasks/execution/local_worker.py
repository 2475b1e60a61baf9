"""The worker: a thread that takes queued tasks from the store and has a runner process run
them, one at a time, and that never waits on a run without a bound.

One task at a time per worker because one model occupies the accelerator (or the CPU); the
model stays loaded in the runner (runner.py) between tasks. For each task the worker:

- sends the job, and writes the runner's progress events to the store (throttled);
- watches for a cancellation (DELETE: an event in this process, and the store's flag, which
  any process may set), the task's time limit, and the server stopping;
- asks the runner to stop at its next callback, and kills it after `grace` seconds if it has
  not (a long encode has no callback); a fresh runner is started for the next task;
- records the end in the store (endings.py: a cancelled task never ends as succeeded, and a
  full disk does not lose the end).

The store is the only shared state, so several workers (threads here, or processes) can run
tasks at once over one store; each claims tasks atomically.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from svlab.core.config import VideoConfig
from svlab.work.tasks.execution.endings import Endings, remove_staging
from svlab.work.tasks.execution.faults import STORAGE_FULL, is_storage_full, one_line, redact
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.execution.task_runner import (
    Outcome, Progress, Ready, RunnerJob, Shutdown, Stop, start_runner,
)
from svlab.work.tasks.execution.store import TaskStore
from svlab.work.tasks.execution.workers import TaskWorkers

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.2  # seconds between progress writes within one stage
TICK = 0.1  # seconds between looks at cancellation, time limit and the runner
FLAG_INTERVAL = 0.5  # seconds between reads of the store's cancel flag
GRACE_SECONDS = 2.0  # how long a run may take to stop at a callback before it is killed
RESTART_SECONDS = 10.0  # between attempts to start a runner that failed to start
EXIT_SECONDS = 20.0  # how long an idle runner may take to unload its model and exit
NO_MESSAGE = object()  # what _receive returns when the runner is alive but said nothing


class Worker(TaskWorkers):
    """Runs queued tasks in a background thread, through a runner process, until `stop()`."""

    def __init__(self, store: TaskStore, data: DataFolder, base_config: VideoConfig, *,
                 task_timeout: float, preload: bool = True, name: str = "worker-1",
                 grace: float = GRACE_SECONDS, poll_seconds: float = 1.0,
                 gpu: str | None = None):
        super().__init__()
        self.thread_name = f"svlab-{name}"
        self.store, self.data, self.base_config = store, data, base_config
        self.gpu = gpu  # the CUDA device its runner sees (None: the server's own view)
        self.task_timeout, self.preload, self.name = task_timeout, preload, name
        self.grace, self.poll_seconds = grace, poll_seconds
        self.state = "stopped"
        self.current: str | None = None
        self.model: str | None = None  # what the runner loaded (None: the fallback engine)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._runner = self._conn = None
        self.endings = Endings(store, data, task_timeout=task_timeout, stopping=self._stop,
                               name=name)

    # -- control, from other threads ----------------------------------------------------

    def start(self) -> None:
        self.state = "starting"
        super().start()

    def cancel(self, task_id: str) -> None:
        """Stop the run of `task_id` now, if it is this worker's (the store's flag, which
        DELETE sets first, reaches every worker within FLAG_INTERVAL anyway)."""
        with self._lock:
            if self.current == task_id:
                self._cancel.set()

    def views(self) -> list[dict[str, Any]]:
        """This worker as GET /api/health shows it."""
        return [self.describe()]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "task": self.current,
                "model": self.model, "gpu": self.gpu}

    # -- the thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ran = self._runner_ready() and self.run_once()
                except Exception:  # the store itself failed: log, wait, try again
                    log.exception("%s: loop error", self.name)
                    ran = False
                if not ran:
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()
        finally:
            self._shutdown_runner()
            self.state = "stopped"
            self.store.close()

    def _runner_ready(self) -> bool:
        """Start a runner if there is none alive; True once it has said Ready."""
        if self._runner is not None and self._runner.is_alive():
            return True
        self._discard_runner()
        self.state = "starting"
        self._runner, self._conn = start_runner(self.data, self.base_config,
                                                preload=self.preload,
                                                log_level=logging.getLogger().level,
                                                gpu=self.gpu)
        deadline = time.monotonic() + max(120.0, self.task_timeout)
        while not self._stop.is_set() and time.monotonic() < deadline:
            if wait([self._conn, self._runner.sentinel], TICK):
                message = self._receive()
                if isinstance(message, Ready):
                    self.model = message.model
                    log.info("%s: runner %d ready (model: %s)", self.name, self._runner.pid,
                             message.model or "fallback engine")
                    self.state = "idle"
                    return True
                if message is None:
                    break
        if not self._stop.is_set():
            log.error("%s: the runner did not start (exit code %s); trying again in %g s",
                      self.name, self._runner.exitcode, RESTART_SECONDS)
        self._discard_runner()
        self._stop.wait(RESTART_SECONDS)
        return False

    def run_once(self) -> bool:
        """Run the oldest queued task to its end; False when there was none."""
        task = self.store.claim_next()
        if task is None:
            return False
        self.data.keep_reserve()
        task_id = task["id"]
        with self._lock:
            self.current, self.state = task_id, "running"
            self._cancel.clear()
        staging = None
        try:
            if task["cancel_requested"]:
                reason, outcome = "cancel", None
            else:
                staging = self.data.new_staging(task_id)
                reason, outcome = self._supervise(task, staging / f"{task_id}.mp4")
            self.endings.record_end(task_id, reason, outcome, staging)
        except Exception as e:  # the store or the data folder failed, not the task
            log.exception("%s: task %s could not be run", self.name, task_id)
            error = STORAGE_FULL if is_storage_full(e) else \
                f"internal error: {type(e).__name__}: {redact(str(e), self.data.root)}"
            self.endings.record(lambda: self.store.finish(task_id, "failed", error=one_line(error)))
        finally:
            remove_staging(staging)
            with self._lock:
                self.current = None
                self.state = "idle" if self._runner is not None else "starting"
        return True

    def _supervise(self, task: dict[str, Any], out: Path) -> tuple[str | None, Outcome | None]:
        """Run `task` in the runner until it ends or is stopped. Returns why it was stopped
        ("cancel", "timeout", "requeue" when the server stops, or None) and the runner's
        outcome (None when the runner died or was killed)."""
        task_id = task["id"]
        if not self._send(RunnerJob(task_id, task["request"], out)):
            self._discard_runner()
            return "requeue", None  # the runner was gone before the task started
        started = time.monotonic()
        reason, asked, flag_read = None, 0.0, started
        throttle: dict[str, Any] = {"time": 0.0, "key": None}
        while True:
            if wait([self._conn, self._runner.sentinel], TICK):
                message = self._receive()
                if isinstance(message, Outcome):
                    return reason, message
                if message is None:  # the runner died
                    log.error("%s: runner died during task %s (exit code %s)", self.name,
                              task_id, self._runner.exitcode)
                    self._discard_runner()
                    return reason, None
                if isinstance(message, Progress) and reason is None:
                    self._progress(task_id, message.event, throttle)
            now = time.monotonic()
            if reason is None:
                if self._cancel.is_set() or (now - flag_read > FLAG_INTERVAL and
                                             self.store.cancel_requested(task_id)):
                    reason = "cancel"
                elif self._stop.is_set():
                    reason = "requeue"
                elif now - started > self.task_timeout:
                    reason = "timeout"
                flag_read = now if now - flag_read > FLAG_INTERVAL else flag_read
                if reason is not None:
                    log.info("%s: stopping task %s (%s)", self.name, task_id, reason)
                    self._send(Stop(task_id))
                    asked = now
            elif now - asked > self.grace:
                log.warning("%s: task %s did not stop within %.1f s; killing its runner",
                            self.name, task_id, self.grace)
                self._discard_runner()
                return reason, None

    def _progress(self, task_id: str, event: dict[str, Any], throttle: dict[str, Any]) -> None:
        key = (event.get("scene"), event.get("stage"))
        now = time.monotonic()
        if key == throttle["key"] and now - throttle["time"] < PROGRESS_INTERVAL:
            return
        throttle.update(time=now, key=key)
        try:
            self.store.set_progress(task_id, {**event, "fraction": progress_fraction(event)})
        except Exception as e:  # progress is a courtesy; the disk may be full
            log.warning("%s: progress of %s not recorded: %s", self.name, task_id, e)

    # -- the runner process ---------------------------------------------------------------

    def _receive(self) -> Any:
        """The runner's next message; None when it has died or its pipe broke, NO_MESSAGE
        when it is alive and has nothing to say."""
        try:
            if self._conn.poll():
                return self._conn.recv()
        except (EOFError, OSError):
            return None
        return NO_MESSAGE if self._runner.is_alive() else None

    def _send(self, message: Any) -> bool:
        """Send to the runner; False when it is gone."""
        try:
            self._conn.send(message)
            return True
        except OSError:
            return False

    def _discard_runner(self) -> None:
        """Kill the runner's process group (the runner and its ffmpeg) if it is alive."""
        if self._runner is None:
            return
        if self._runner.is_alive():
            try:
                os.killpg(self._runner.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # not yet its own group leader
                self._runner.kill()
        self._runner.join(10)
        self._conn.close()
        self._runner = self._conn = None

    def _shutdown_runner(self) -> None:
        if self._runner is not None and self._runner.is_alive() and self._send(Shutdown()):
            self._runner.join(EXIT_SECONDS)
        self._discard_runner()


def progress_fraction(event: dict[str, Any]) -> float | None:
    """Share of the run done: scenes finished plus the share of the current scene's steps.
    Keyframes (made for all scenes first, quick next to the clips) count as none."""
    if event.get("stage") == "keyframe":
        return 0.0
    steps, step = event.get("steps"), event.get("step")
    inner = step / steps if steps and step is not None else 0.0
    scenes, scene = event.get("scenes"), event.get("scene")
    if scenes and scene:
        return round(min(1.0, ((scene - 1) + inner) / scenes), 4)
    return round(min(1.0, inner), 4) if steps else None
