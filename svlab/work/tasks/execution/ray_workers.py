"""`svlab serve --ray`: queued tasks run on a pool of Ray workers, several at once (one per
worker: an actor with a GPU each, or CPUs with pinned threads), on one machine or a cluster.

The store stays the single source of truth, on the server: a task is claimed from it only
when a worker is free, its end is recorded there (endings.py, as for a local worker), and a
task left running by a killed server is re-queued at the next start as always. No shared
filesystem is assumed: the server sends a task's request and its input files (the upload, the
storyboard's images and music) as bytes; the worker runs it exactly as a local runner does
(`runner.run_task`) in a data folder of its own and sends back the result folder's files (the
MP4 and its manifest and captions, never raw frames); the server writes them into a staging
folder and publishes it in one rename, so no half video is ever served.

- Progress: the worker's callbacks go to a Ray queue that the server drains into the store,
  with the worker that is making the task and the attempt.
- Cancel and the time limit: the worker's actor is ended at once (`Dispatch.stop`) and a
  fresh one takes its place; nothing it wrote reaches the data folder.
- A worker that dies mid-task (SIGKILL, a lost node) costs that task a retry on another
  worker, recorded in its manifest's `execution` section; after `max_attempts` deaths the
  task fails with the reasons.
- Server stop: tasks in flight go back to the queue.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svlab.core.config import VideoConfig
from svlab.work.distributed import Job, JobOutcome, PoolSettings, Stream, WorkerPool, ray_session
from svlab.core.errors import InputError
from svlab.work.tasks.execution.endings import Endings, remove_staging
from svlab.work.tasks.execution.faults import STORAGE_FULL, is_storage_full, one_line, redact
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.execution.recipe import task_storyboard
from svlab.work.tasks.execution.task_runner import Outcome, failure_message, plain_event, run_task
from svlab.work.tasks.execution.store import TaskStore
from svlab.work.tasks.execution.workers import TaskWorkers
from svlab.work.tasks.execution.local_worker import FLAG_INTERVAL, PROGRESS_INTERVAL, progress_fraction

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # between looks at the queue when no task was announced
RESTART_SECONDS = 10.0  # before the pool is started again after it failed


@dataclass(frozen=True)
class RemoteTask:
    """A task as a worker gets it: the request, the files it names (by path relative to the
    data folder) and the server's settings."""

    task_id: str
    request: dict[str, Any]
    files: dict[str, bytes]
    config: VideoConfig
    server_root: str  # where the manifest's paths point once the result is published


@dataclass(frozen=True)
class RemoteResult:
    """How the run ended on the worker, and the result folder's files by name."""

    outcome: Outcome
    files: dict[str, bytes]


def run_remote(state: dict, task: RemoteTask, progress) -> RemoteResult:
    """On a Ray worker: run one task in a data folder of its own (the model stays loaded in
    this process's model cache for the next task) and return its files."""
    last: dict[str, Any] = {"time": 0.0, "key": None}

    def callback(event: dict[str, Any]) -> None:
        key, now = (event.get("scene"), event.get("stage")), time.monotonic()
        if key != last["key"] or now - last["time"] >= PROGRESS_INTERVAL:
            last.update(time=now, key=key)
            progress.put_nowait((task.task_id, plain_event(event)))

    with tempfile.TemporaryDirectory(prefix="svlab-task-") as folder:
        data = DataFolder.create(folder)
        for relative, content in task.files.items():
            path = data.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        out = data.new_staging(task.task_id) / f"{task.task_id}.mp4"
        try:
            manifest = run_task(task.request, data, out, task.config, callback)
        except Exception as e:  # a failed task is an outcome, whatever failed
            error = failure_message(e, task.task_id, data.root)
            return RemoteResult(Outcome(task.task_id, "failed", error=error), {})
        manifest = relocate(manifest, str(data.root), task.server_root)
        files = {p.name: p.read_bytes() for p in out.parent.iterdir() if p.is_file()}
    return RemoteResult(Outcome(task.task_id, "succeeded", manifest=manifest), files)


class RayWorkers(TaskWorkers):
    """Runs queued tasks on Ray workers (`settings`) in a background thread until `stop()`;
    the server holds them as `TaskWorkers`, as it holds local workers. `address`: the cluster
    (None: the session already open, or Ray started here)."""

    thread_name = "svlab-ray"

    def __init__(self, store: TaskStore, data: DataFolder, base_config: VideoConfig, *,
                 task_timeout: float, settings: PoolSettings, address: str | None = None):
        super().__init__()
        self.store, self.data, self.base_config = store, data, base_config
        self.task_timeout, self.settings, self.address = task_timeout, settings, address
        self.running: dict[str, float] = {}  # task id -> when its current attempt started
        self.pool: WorkerPool | None = None
        self._lock = threading.Lock()
        self._cancels: set[str] = set()
        self._queue = None  # the Ray queue progress comes back through
        self._seen: dict[str, Any] = {}  # task id -> the worker last reported making it
        self._empty_at, self._flags_at = 0.0, 0.0
        self.endings = Endings(store, data, task_timeout=task_timeout, stopping=self._stop,
                               name="ray")

    # -- control, from other threads ----------------------------------------------------

    def cancel(self, task_id: str) -> None:
        with self._lock:
            self._cancels.add(task_id)
        self._wake.set()

    def views(self) -> list[dict[str, Any]]:
        """Each Ray worker as GET /api/health shows it."""
        pool = self.pool
        if pool is None:
            return [{"name": "ray", "state": "stopped" if self._stop.is_set() else "starting",
                     "task": None, "model": None}]
        dispatch = pool.current
        tasks = {info.name: key for key, info in (dispatch.running() if dispatch else {}).items()
                 if info is not None}
        views = []
        for member in list(pool.workers):
            info = member.info
            state = "starting" if info is None else "running" if member.name in tasks \
                else "idle"
            views.append({"name": member.name, "state": state, "task": tasks.get(member.name),
                          "model": None, "gpu": ",".join(info.gpus) if info and info.gpus
                          else None})
        return views

    # -- the dispatching thread ---------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self._serve()
                except Exception:  # e.g. no worker started in time: log, wait, start again
                    log.exception("the Ray workers stopped; starting them again in %g s",
                                  RESTART_SECONDS)
                    self._stop.wait(RESTART_SECONDS)
        finally:
            self.store.close()

    def _serve(self) -> None:
        """Start the pool and feed it until the server stops (or the pool fails); tasks in
        flight then go back to the queue."""
        from ray.util.queue import Queue

        try:
            with ray_session(self.address), WorkerPool(self.settings) as pool:
                self._queue = Queue(actor_options={"num_cpus": 0})
                self.pool = pool
                pool.serve(Stream(next_job=self._next_job, tick=self._tick,
                                  stopped=self._stop.is_set, idle_wait=self._idle_wait),
                           self._ended)
        finally:
            for task_id in list(self.running):  # interrupted, not finished: run again later
                self.endings.record(lambda t=task_id: self.store.requeue(t))
            self.running.clear()
            self._seen.clear()
            self.pool = None

    def _idle_wait(self, seconds: float) -> None:
        self._wake.wait(POLL_SECONDS)

    def _next_job(self) -> Job | None:
        """The oldest queued task as a job for a free worker (claimed in the store)."""
        now = time.monotonic()
        if not self._wake.is_set() and now - self._empty_at < POLL_SECONDS:
            return None
        self._wake.clear()
        while (task := self.store.claim_next()) is not None:
            task_id = task["id"]
            if task["cancel_requested"]:
                self.endings.record_end(task_id, "cancel", None, None)
                continue
            try:
                remote = RemoteTask(task_id, task["request"], self._inputs(task["request"]),
                                    self.base_config, str(self.data.root))
            except Exception as e:
                self.endings.record_end(task_id, None, Outcome(
                    task_id, "failed", error=failure_message(e, task_id, self.data.root)), None)
                continue
            self.data.keep_reserve()
            self.running[task_id] = time.monotonic()
            return Job(task_id, "task", run_remote, (remote, self._queue))
        self._empty_at = now
        return None

    def _inputs(self, request: dict[str, Any]) -> dict[str, bytes]:
        """The files a request names, by path relative to the data folder."""
        paths = [self.data.root / request["image"]] if request.get("image") else []
        board = task_storyboard(request, self.data)
        if board is not None:
            paths += [s.image for s in board.scenes if s.image is not None]
            paths += [board.music] if board.music is not None else []
        files = {}
        for path in paths:
            relative = str(path.relative_to(self.data.root))
            if not path.is_file():
                raise InputError(f"{relative} is gone from the data folder")
            files[relative] = path.read_bytes()
        return files

    def _tick(self) -> None:
        """Progress into the store; cancellations and time limits stop their tasks."""
        dispatch = self.pool.current
        running = dispatch.running()
        for task_id, info in running.items():
            if info is not None and self._seen.get(task_id) != info:
                self._seen[task_id] = info
                self._progress(task_id, {"stage": "started"}, info)
        self._drain_progress(running)
        now = time.monotonic()
        with self._lock:
            cancels, self._cancels = self._cancels, set()
        if now - self._flags_at > FLAG_INTERVAL:
            self._flags_at = now
            cancels |= {t for t in self.running if self.store.cancel_requested(t)}
        for task_id, started in list(self.running.items()):
            if task_id in cancels:
                dispatch.stop(task_id, "cancel")
            elif now - started > self.task_timeout:
                dispatch.stop(task_id, "timeout")

    def _drain_progress(self, running: dict[str, Any]) -> None:
        queue = self._queue
        count = queue.qsize()
        latest = dict(queue.get_nowait_batch(count)) if count else {}
        for task_id, event in latest.items():
            if task_id in running:
                self._progress(task_id, event, running[task_id])

    def _progress(self, task_id: str, event: dict[str, Any], info) -> None:
        """Write a progress event, with the worker making the task and the attempt."""
        worker = {"name": info.name, "node": info.node, "pid": info.pid,
                  "gpus": list(info.gpus)} if info is not None else None
        attempt = len(self.pool.current.lost.get(task_id, [])) + 1
        try:
            self.store.set_progress(task_id, {**event, "fraction": progress_fraction(event),
                                              "worker": worker, "attempt": attempt})
        except Exception as e:  # progress is a courtesy; the disk may be full
            log.warning("progress of %s not recorded: %s", task_id, e)

    def _ended(self, outcome: JobOutcome) -> None:
        """Record a job's end: stopped (cancel, timeout), failed, or its files published."""
        task_id = outcome.key
        self.running.pop(task_id, None)
        self._seen.pop(task_id, None)
        if outcome.stopped:
            self.endings.record_end(task_id, outcome.error, None, None)
            return
        if outcome.error is not None:  # it raised on the worker, or killed max_attempts
            error = one_line(redact(f"on Ray: {outcome.error}", self.data.root))
            self.endings.record_end(task_id, None, Outcome(task_id, "failed", error=error),
                                    None)
            return
        result: RemoteResult = outcome.value
        if result.outcome.status != "succeeded":
            self.endings.record_end(task_id, None, result.outcome, None)
            return
        staging = None
        try:
            staging = self.data.new_staging(task_id)
            manifest = {**result.outcome.manifest, "execution": outcome.execution()}
            for name, content in result.files.items():
                (staging / name).write_bytes(content)
            (staging / f"{task_id}.json").write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False),
                encoding="utf-8")
            self.endings.record_end(task_id, None,
                                    Outcome(task_id, "succeeded", manifest=manifest), staging)
        except Exception as e:  # the store or the data folder failed, not the task
            log.exception("ray: the result of task %s could not be recorded", task_id)
            error = STORAGE_FULL if is_storage_full(e) else \
                f"internal error: {type(e).__name__}: {redact(str(e), self.data.root)}"
            self.endings.record(lambda: self.store.finish(task_id, "failed",
                                                          error=one_line(error)))
        finally:
            remove_staging(staging)


def relocate(value: Any, old_root: str, new_root: str) -> Any:
    """A JSON value with the worker's data folder in its strings replaced by the server's."""
    if isinstance(value, str):
        return value.replace(old_root, new_root)
    if isinstance(value, list):
        return [relocate(v, old_root, new_root) for v in value]
    if isinstance(value, dict):
        return {k: relocate(v, old_root, new_root) for k, v in value.items()}
    return value

