"""`RayExecutor`: a sweep's runs made on a Ray cluster, with the same keys, files, table and
resumption as `LocalExecutor`; only where the runs execute changes.

    svlab.sweep("motion.yaml", out="sweeps/motion", executor=RayExecutor(address="auto"))

Every run is one job of a `svlab.work.distributed.WorkerPool`, with the run's model loading key as
its affinity: a worker loads a model once and keeps taking that key's runs, its conditioning
reuse cache open between them (`svlab.work.sweep.reuse`). A worker makes a run exactly as the
local executor does (`execute_task`: the service, the metrics) but into a folder of its own,
then sends back the MP4, the manifest and the metrics as bytes (a few MB; raw frames never
travel). The driver publishes them into `DIR/runs/` the way a local run is published (hidden
files, then renames, the manifest last), so no shared filesystem is needed, a driver killed
mid-sweep leaves only whole runs, and the next start resumes as locally.

A run's manifest gains an `execution` section: the worker, node and GPU that made it, how
many attempts it took, and the workers that died making it before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from svlab.work.distributed import Job, JobOutcome, PoolSettings, WorkerPool, WorkerSummary, ray_session
from svlab.media.outputs import Publication
from svlab.core.files import atomic_output
from svlab.run.clip import loading_key
from svlab.work.sweep.executors import ExecutionOptions, Report, RunResult, execute_task, group_loader
from svlab.work.sweep.plan import RunTask
from svlab.work.sweep.reuse import conditioning_reuse

log = logging.getLogger(__name__)

SUFFIXES = (".mp4", ".json", ".metrics.json")  # what a worker sends back for a run


@dataclass
class RunOutput:
    """What a worker sends back for one run: its record and its files' bytes by suffix."""

    result: RunResult
    files: dict[str, bytes]


@dataclass(frozen=True)
class ImageInput:
    """A run's input image as the worker gets it: the driver's path (used as it is when the
    worker sees the same bytes there), the bytes' hash, and the bytes (through the object
    store, once per image per worker)."""

    path: Path
    sha256: str


class RayExecutor:
    """Makes a sweep's runs on Ray: at `address` ("auto", "HOST:PORT", "ray://..."), or on a
    Ray started on this machine (None). `settings` shape the workers (how many, GPUs and
    threads each, attempts per run). After `run`, `summary` holds each worker's share.

    Used as a context manager, it keeps its workers (and the models they loaded) between
    sweeps, as the local model cache does; otherwise each sweep starts and ends its own."""

    def __init__(self, options: ExecutionOptions = ExecutionOptions(), *,
                 address: str | None = None, settings: PoolSettings = PoolSettings()):
        self.options, self.address, self.settings = options, address, settings
        self.summary: list[WorkerSummary] = []
        self.pool: WorkerPool | None = None  # while open, or while `run` runs
        self._open: contextlib.ExitStack | None = None

    def __enter__(self) -> "RayExecutor":
        stack = contextlib.ExitStack()
        stack.enter_context(ray_session(self.address))
        self.pool = stack.enter_context(WorkerPool(self.settings))
        self._open = stack
        return self

    def __exit__(self, *exc) -> None:
        stack, self._open, self.pool = self._open, None, None
        if stack is not None:
            stack.close()

    def run(self, groups: Sequence[Sequence[RunTask]], report: Report) -> None:
        tasks = {task.key: task for group in groups for task in group}
        if not tasks:
            self.summary = []
            return
        with contextlib.ExitStack() as stack:
            if self._open is None:  # a sweep of its own: workers started and ended here
                stack.enter_context(ray_session(self.address))
                self.pool = stack.enter_context(WorkerPool(self.settings))
                stack.callback(setattr, self, "pool", None)
            pool = self.pool
            before = {w.name: (w.jobs, w.seconds, w.lost) for w in pool.summary()}

            def published(outcome: JobOutcome) -> None:
                report(publish(tasks[outcome.key], outcome))

            try:
                pool.run(self._jobs(groups), published)
            finally:
                self.summary = [_since(w, before.get(w.name)) for w in pool.summary()]

    def _jobs(self, groups: Sequence[Sequence[RunTask]]) -> list[Job]:
        import ray

        images: dict[Path, tuple[ImageInput, Any]] = {}
        jobs = []
        for group in groups:
            for task in group:
                image = task.input.image
                if image is not None and image not in images:
                    data = image.read_bytes()
                    images[image] = (ImageInput(image, hashlib.sha256(data).hexdigest()),
                                     ray.put(data))
                described, ref = images[image] if image is not None else (None, None)
                jobs.append(Job(key=task.key, affinity=repr(loading_key(task.config)),
                                fn=make_run, args=(task, self.options, described, ref)))
        return jobs


def _since(summary: WorkerSummary, before: tuple | None) -> WorkerSummary:
    """A worker's share of this sweep alone (an open executor's workers served earlier ones)."""
    jobs, seconds, lost = before or (0, 0.0, 0)
    return replace(summary, jobs=summary.jobs - jobs, seconds=summary.seconds - seconds,
                   lost=summary.lost - lost)


def make_run(state: dict, task: RunTask, options: ExecutionOptions,
             image: ImageInput | None, data: bytes | None) -> RunOutput:
    """On a worker: make one run in a folder of its own and return its files' bytes. The
    model and the reuse cache of the run's loading key stay in `state` for the next run."""
    session = _session(state, task, options)
    with tempfile.TemporaryDirectory(prefix="svlab-run-") as folder:
        local = replace(task, video=Path(folder) / task.video.name)
        if image is not None:
            local = replace(local, input=replace(task.input,
                                                 image=_local_image(image, data, folder)))
        result = execute_task(local, options, loader=session.loader, stats=session.stats)
        files = {suffix: path.read_bytes() for suffix in SUFFIXES
                 if (path := local.video.with_suffix(suffix)).is_file()}
    return RunOutput(result, files)


@dataclass
class _Session:
    """A worker's loaded model for one loading key, and its open conditioning reuse."""

    key: tuple
    loader: Any
    stats: Any
    stack: contextlib.ExitStack


def _session(state: dict, task: RunTask, options: ExecutionOptions) -> _Session:
    key = (*loading_key(task.config), options.reuse)
    session = state.get("sweep")
    if session is not None and session.key == key:
        return session
    if session is not None:
        session.stack.close()
    loader = group_loader(task)
    stack = contextlib.ExitStack()
    pipe = loader.pipeline if loader is not None and options.reuse else None
    stats = stack.enter_context(conditioning_reuse(pipe, loader.family if loader else None))
    state["sweep"] = session = _Session(key, loader, stats, stack)
    return session


def _local_image(image: ImageInput, data: bytes, folder: str) -> Path:
    """The driver's image path where this machine has the same bytes there (the same machine,
    a shared filesystem), else the bytes written under the same name in `folder`."""
    try:
        if hashlib.sha256(image.path.read_bytes()).hexdigest() == image.sha256:
            return image.path
    except OSError:
        pass
    local = Path(folder) / "input" / image.path.name
    local.parent.mkdir()
    local.write_bytes(data)
    return local


def publish(task: RunTask, outcome: JobOutcome) -> RunResult:
    """On the driver: the run's files written into the sweep's folder (the metrics, then the
    video and the manifest together, the manifest last) and its record returned."""
    if outcome.error is not None:
        return RunResult(task.key, "failed", reason=outcome.error, seconds=outcome.seconds)
    output: RunOutput = outcome.value
    if output.result.status != "done":
        return output.result
    manifest = json.loads(output.files[".json"])
    if task.input.image is not None:  # as the driver knows it, not the worker's copy
        manifest["inputs"]["image"]["image"] = str(task.input.image)
    manifest["execution"] = outcome.execution()
    task.video.parent.mkdir(parents=True, exist_ok=True)
    if ".metrics.json" in output.files:
        with atomic_output(task.metrics) as tmp:
            tmp.write_bytes(output.files[".metrics.json"])
    with Publication(task.video) as pub:
        pub.video.write_bytes(output.files[".mp4"])
        pub.manifest = manifest
    return output.result
