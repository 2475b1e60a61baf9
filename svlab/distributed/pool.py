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

One job per worker at a time, so a worker's death costs exactly the job it was making. That
job goes back to the queue and is retried on another worker where there is one; Ray brings
the dead actor back (`max_restarts`) and the pool gives it work again once it answers. A job
that took down `max_attempts` workers is given up as failed with the reasons, so a run that
kills every worker it touches cannot stall a sweep. Ray's own task retries are off
(`max_task_retries=0`): the pool counts and records the attempts itself.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import InputError
from .cluster import require_ray
from .records import Job, JobOutcome, LostAttempt, PoolSettings, WorkerInfo, WorkerSummary

log = logging.getLogger(__name__)

WAIT_STEP = 1.0  # seconds between checks while waiting for answers
DEAD_PROBES = 3  # a worker whose calls fail as dead this many times in a row is gone
REASON_LENGTH = 300


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


@dataclass
class _Worker:
    handle: Any
    name: str
    info: WorkerInfo | None = None
    affinity: str | None = None
    summary: WorkerSummary | None = None
    gone: bool = False  # dead with its restarts used up
    failed_probes: int = 0


class WorkerPool:
    """Ray actors making jobs; see the module's docstring. Use inside a `ray_session`."""

    def __init__(self, settings: PoolSettings = PoolSettings()):
        if settings.max_attempts < 1:
            raise InputError(f"max_attempts must be at least 1, got {settings.max_attempts}")
        if settings.workers is not None and settings.workers < 1:
            raise InputError(f"--workers must be at least 1, got {settings.workers}")
        self.settings = settings
        self.workers: list[_Worker] = []
        self._probes: dict[Any, _Worker] = {}
        self._started = 0.0
        self._current: _Run | None = None

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
        for i in range(count):
            worker = _Worker(handle=actor.remote(f"w{i}", threads), name=f"w{i}")
            self.workers.append(worker)
            self._probe(worker)
        self._started = time.monotonic()
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
        self._probes.clear()

    def summary(self) -> list[WorkerSummary]:
        """Per worker: jobs made, seconds busy, deaths, node and GPUs."""
        return [w.summary for w in self.workers if w.summary is not None]

    def ready(self) -> list[WorkerInfo]:
        """The workers that have answered, as they last answered (their process id included)."""
        return [w.info for w in self.workers if w.info is not None]

    def busy(self) -> list[tuple[WorkerInfo, float]]:
        """The workers making a job now, and for how many seconds (safe from another thread)."""
        current, now = self._current, time.monotonic()
        calls = list(current.busy.values()) if current is not None else []
        return [(w.info, now - t) for w, _, t in calls if w.info is not None]

    def _probe(self, worker: _Worker) -> None:
        self._probes[worker.handle.info.remote()] = worker

    def run(self, jobs: Iterable[Job], on_outcome: Callable[[JobOutcome], None]) -> None:
        """Make every job, calling `on_outcome` once per job (in this thread) as each ends."""
        self._current = _Run(self, list(jobs), on_outcome)
        try:
            self._current.loop()
        finally:
            self._current = None


class _Run:
    """The bookkeeping of one `WorkerPool.run`: queues by affinity, jobs in flight, retries."""

    def __init__(self, pool: WorkerPool, jobs: list[Job], on_outcome):
        self.pool, self.on_outcome = pool, on_outcome
        self.queues: dict[str, deque[Job]] = {}
        for job in jobs:
            self.queues.setdefault(job.affinity, deque()).append(job)
        self.retries: deque[Job] = deque()
        self.later: dict[str, tuple[float, _Worker]] = {}  # workers to ask again, and when
        self.lost: dict[str, list[LostAttempt]] = {}
        self.busy: dict[Any, tuple[_Worker, Job, float]] = {}
        probing = list(pool._probes.values())
        self.idle: list[_Worker] = [w for w in pool.workers
                                    if w.info is not None and w not in probing]
        for worker in pool.workers:  # left coming back by an earlier run: ask again
            if worker.info is None and not worker.gone and worker not in probing:
                pool._probe(worker)

    def pending(self) -> bool:
        return bool(self.retries or any(self.queues.values()))

    def loop(self) -> None:
        ray = require_ray()
        while self.pending() or self.busy:
            self.reprobe()
            self.assign()
            waiting = list(self.busy) + list(self.pool._probes)
            if not waiting and self.later:
                time.sleep(WAIT_STEP)
                continue
            if not waiting:  # no worker left and none coming back
                self.give_up("no Ray worker is left to make it (every worker died)")
                break
            ready, _ = ray.wait(waiting, num_returns=1, timeout=WAIT_STEP)
            for ref in ready:
                if ref in self.busy:
                    self.answered(ray, ref)
                else:
                    self.probed(ray, ref)
            self.check_start()

    def reprobe(self) -> None:
        now = time.monotonic()
        for name, (due, worker) in list(self.later.items()):
            if due <= now:
                del self.later[name]
                self.pool._probe(worker)

    def assign(self) -> None:
        for worker in list(self.idle):
            job = self.next_job(worker)
            if job is None:
                continue
            self.idle.remove(worker)
            worker.affinity = job.affinity
            ref = worker.handle.call.remote(job.fn, *job.args)
            self.busy[ref] = (worker, job, time.monotonic())

    def next_job(self, worker: _Worker) -> Job | None:
        """A retried job this worker has not failed (or any, where it is the only one left),
        else its affinity's next job, else one of the affinity with most jobs per worker."""
        alive = {w.name for w in self.pool.workers if not w.gone}
        for job in self.retries:
            failed = {a.worker for a in self.lost[job.key]}
            if worker.name not in failed or alive <= failed:
                self.retries.remove(job)
                return job
        if self.queues.get(worker.affinity):
            return self.queues[worker.affinity].popleft()
        serving = {}
        for other, _, _ in self.busy.values():
            serving[other.affinity] = serving.get(other.affinity, 0) + 1
        left = [(len(q) / (1 + serving.get(a, 0)), a) for a, q in self.queues.items() if q]
        if not left:
            return None
        return self.queues[max(left)[1]].popleft()

    def answered(self, ray, ref) -> None:
        worker, job, submitted = self.busy.pop(ref)
        seconds = time.monotonic() - submitted
        summary = worker.summary
        try:
            value = ray.get(ref)
        except _death_errors(ray) as error:
            info = worker.info
            lost = LostAttempt(worker.name, info.node if info else "?", info.pid if info else 0,
                               _reason(error))
            log.warning("worker %s died making %s: %s", worker.name, job.key, lost.error)
            self.lost.setdefault(job.key, []).append(lost)
            if summary is not None:
                summary.lost += 1
            worker.info = None  # it answers again once Ray has restarted it
            self.pool._probe(worker)
            if len(self.lost[job.key]) >= self.pool.settings.max_attempts:
                self.finish(JobOutcome(job.key, error=self.lost_reason(job.key),
                                       lost=self.lost[job.key]))
            else:
                self.retries.append(job)
            return
        except ray.exceptions.RayTaskError as error:  # the job raised: a bug, not a death
            outcome = JobOutcome(job.key, error=_reason(error.cause or error), worker=worker.info,
                                 lost=self.lost.get(job.key, []), seconds=seconds)
        else:
            outcome = JobOutcome(job.key, value=value, worker=worker.info,
                                 lost=self.lost.get(job.key, []), seconds=seconds)
        if summary is not None:
            summary.jobs += 1
            summary.seconds += seconds
        self.idle.append(worker)
        self.finish(outcome)

    def probed(self, ray, ref) -> None:
        worker = self.pool._probes.pop(ref)
        try:
            info = ray.get(ref)
        except ray.exceptions.ActorUnavailableError:  # Ray is restarting it: ask again later
            self.later[worker.name] = (time.monotonic() + WAIT_STEP, worker)
            return
        except _death_errors(ray) as error:  # dead; gone for good once restarts are used up
            worker.failed_probes += 1
            if worker.failed_probes >= DEAD_PROBES:
                log.warning("worker %s is gone: %s", worker.name, _reason(error))
                worker.gone = True
                return
            self.later[worker.name] = (time.monotonic() + WAIT_STEP, worker)
            return
        worker.failed_probes = 0
        worker.info = info
        if worker.summary is None:
            worker.summary = WorkerSummary(info.name, info.node, info.gpus, info.gpu_name)
        else:  # restarted, maybe elsewhere
            worker.summary.node, worker.summary.gpus = info.node, info.gpus
        self.idle.append(worker)

    def check_start(self) -> None:
        """A pool none of whose workers ever answered cannot run: say what it asked for."""
        if any(w.summary is not None for w in self.pool.workers):
            return
        if time.monotonic() - self.pool._started > self.pool.settings.start_timeout:
            ray = require_ray()
            raise InputError(
                f"no Ray worker started within {self.pool.settings.start_timeout:.0f} s; the "
                f"cluster has {ray.cluster_resources()}: ask for fewer workers (--workers) or "
                "add nodes")

    def finish(self, outcome: JobOutcome) -> None:
        self.on_outcome(outcome)

    def lost_reason(self, key: str) -> str:
        lost = self.lost[key]
        where = "; ".join(f"{a.worker} on {a.node}: {a.error}" for a in lost)
        return _bounded(f"its worker died {len(lost)} times while making it ({where})")

    def give_up(self, reason: str) -> None:
        jobs = list(self.retries) + [job for q in self.queues.values() for job in q]
        self.retries.clear()
        for queue in self.queues.values():
            queue.clear()
        for job in jobs:
            self.finish(JobOutcome(job.key, error=reason, lost=self.lost.get(job.key, [])))


def _death_errors(ray) -> tuple[type, ...]:
    e = ray.exceptions
    return (e.RayActorError, e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError,
            e.OutOfMemoryError)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return _bounded(f"{type(error).__name__}: {text}")


def _bounded(text: str) -> str:
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 1] + "…"


