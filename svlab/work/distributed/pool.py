"""A pool of Ray actors that keep what they load, fed jobs one at a time by affinity.

    with WorkerPool(PoolSettings(workers=2)) as pool:     # inside a `ray_session`
        pool.run(jobs, on_outcome)                       # on_outcome(JobOutcome) per job
        pool.summary()                                   # runs, seconds, node, GPU per worker

Each worker is an actor (`num_gpus=1` on a GPU cluster; on CPUs, `num_cpus=threads` with
torch and OpenCV pinned to that many threads, so that two workers on one machine do not
fight). A worker keeps a state dict between calls, where a job's function keeps its loaded
model; an idle worker takes the next job of the affinity it last served, so a model is loaded
once per worker and loading key, and moves to another affinity only when its own runs out
(to the one with the most jobs left per worker).

One job per worker at a time, so a worker's death costs exactly the job it was making; the
job is retried on another worker, with a cap (dispatch.py). Ray brings a dead actor back
(`max_restarts`) and the pool gives it work again once it answers. Ray's own task retries are
off (`max_task_retries=0`): the pool counts and records the attempts itself.

A server feeds a pool over time instead (`serve` with a `Stream`): jobs are asked for as
workers free up, and a job can be stopped at once (its actor is ended and replaced).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable, Iterable

from svlab.core.errors import InputError
from svlab.work.distributed.cluster import require_ray
from svlab.work.distributed.dispatch import Dispatch, Member, Stream
from svlab.work.distributed.jobs import Job, JobOutcome, PoolSettings, WorkerInfo, WorkerSummary

log = logging.getLogger(__name__)


class PoolWorker:
    """The actor's class (made a Ray actor by `WorkerPool`): runs `fn(state, *args)` calls."""

    def __init__(self, name: str, threads: int):
        pin_threads(threads)
        self.name, self.threads, self.state = name, threads, {}

    def info(self) -> WorkerInfo:
        import ray

        context = ray.get_runtime_context()
        gpus = tuple(str(g) for g in ray.get_gpu_ids())
        return WorkerInfo(name=self.name, node=ray.util.get_node_ip_address(),
                          node_id=context.get_node_id(), pid=os.getpid(), gpus=gpus,
                          gpu_name=_cuda_name() if gpus else None, threads=self.threads)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(self.state, *args)


def pin_threads(threads: int) -> None:
    """Pin the libraries that spawn a thread per core to `threads` threads."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _cuda_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


class WorkerPool:
    """Ray actors making jobs; see the module's docstring. Use inside a `ray_session`."""

    def __init__(self, settings: PoolSettings = PoolSettings()):
        if settings.max_attempts < 1:
            raise InputError(f"max_attempts must be at least 1, got {settings.max_attempts}")
        if settings.workers is not None and settings.workers < 1:
            raise InputError(f"--workers must be at least 1, got {settings.workers}")
        self.settings = settings
        self.workers: list[Member] = []
        self.probes: dict[Any, Member] = {}
        self.started = 0.0
        self.current: Dispatch | None = None
        self.actor, self.threads = None, 1  # the actor class and its threads, once started

    def __enter__(self) -> "WorkerPool":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Create the actors; they join the pool as they answer."""
        ray = require_ray()
        count, gpus, threads = self._shape(ray)
        actor = ray.remote(PoolWorker).options(
            num_gpus=gpus, num_cpus=threads, max_restarts=self.settings.max_restarts,
            max_task_retries=0, max_concurrency=1)
        self.actor, self.threads = actor, threads
        for i in range(count):
            worker = Member(handle=actor.remote(f"w{i}", threads), name=f"w{i}")
            self.workers.append(worker)
            self.probe(worker)
        self.started = time.monotonic()
        log.info("Ray pool: %d workers, %s GPU and %d threads each", count, gpus, threads)

    def _shape(self, ray) -> tuple[int, float, int]:
        """(workers, GPUs per worker, threads per worker) for this cluster."""
        total = ray.cluster_resources()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cluster_gpus = int(total.get("GPU", 0))
        gpus = self.settings.gpus if self.settings.gpus is not None else (
            1 if cluster_gpus else 0)
        default = max(1, int(cluster_gpus // gpus)) if gpus else max(1, len(nodes))
        count = self.settings.workers or default
        cpus = int(total.get("CPU", 1))
        node_cpus = max((int(n["Resources"].get("CPU", 0)) for n in nodes), default=1)
        threads = self.settings.threads or max(1, min(cpus // count, node_cpus))
        return count, gpus, threads

    def close(self) -> None:
        """End every actor (what they loaded goes with them)."""
        ray = require_ray()
        for worker in self.workers:
            ray.kill(worker.handle, no_restart=True)
        self.workers.clear()
        self.probes.clear()

    def summary(self) -> list[WorkerSummary]:
        """Per worker: jobs made, seconds busy, deaths, node and GPUs."""
        return [w.summary for w in self.workers if w.summary is not None]

    def ready(self) -> list[WorkerInfo]:
        """The workers that have answered, as they last answered (their process id included)."""
        return [w.info for w in self.workers if w.info is not None]

    def busy(self) -> list[tuple[WorkerInfo, float]]:
        """The workers making a job now, and for how many seconds (safe from another thread)."""
        current, now = self.current, time.monotonic()
        calls = list(current.busy.values()) if current is not None else []
        return [(w.info, now - t) for w, _, t in calls if w.info is not None]

    def probe(self, worker: Member) -> None:
        self.probes[worker.handle.info.remote()] = worker

    def replace(self, worker: Member) -> None:
        """End `worker`'s actor (what it was making is abandoned) and start a fresh one under
        the same name; it joins again once it answers."""
        ray = require_ray()
        ray.kill(worker.handle, no_restart=True)
        for ref, member in list(self.probes.items()):
            if member is worker:
                del self.probes[ref]
        worker.handle = self.actor.remote(worker.name, self.threads)
        worker.info, worker.affinity, worker.failed_probes = None, None, 0
        self.probe(worker)

    def run(self, jobs: Iterable[Job], on_outcome: Callable[[JobOutcome], None]) -> None:
        """Make every job, calling `on_outcome` once per job (in this thread) as each ends."""
        self.current = Dispatch(self, list(jobs), on_outcome)
        try:
            self.current.loop()
        finally:
            self.current = None

    def serve(self, stream: Stream, on_outcome: Callable[[JobOutcome], None]) -> Dispatch:
        """Make the jobs `stream` gives, as workers free up, until `stream.stopped()`; jobs
        still in flight then are abandoned (the caller knows which: `Dispatch.running`).
        `stream.tick` may stop a job with `self.current.stop(key, reason)`."""
        self.current = dispatch = Dispatch(self, [], on_outcome, stream)
        try:
            dispatch.loop()
        finally:
            self.current = None
        return dispatch
