"""How a `WorkerPool` hands out jobs: queues by affinity, jobs in flight, retries after a lost
worker, and, for a server, jobs that arrive over time and jobs stopped on request.

    Dispatch(pool, jobs, on_outcome).loop()                # a list known up front (a sweep)
    Dispatch(pool, [], on_outcome, stream=Stream(...)).loop()   # a queue fed over time

One job per worker at a time. A job whose worker died goes back to the queue and is retried
on another worker where there is one; a job that took down `max_attempts` workers is given up
as failed with the reasons. `stop(key, reason)` ends a job at once by ending the actor making
it (there is no callback inside a model step or an encode to stop at); the pool puts a fresh
actor in its place.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from svlab.core.errors import InputError
from svlab.work.distributed.cluster import require_ray
from svlab.work.distributed.jobs import Job, JobOutcome, LostAttempt, WorkerInfo, WorkerSummary

log = logging.getLogger(__name__)

WAIT_STEP = 1.0  # seconds between checks while waiting for answers
DEAD_PROBES = 3  # a worker whose calls fail as dead this many times in a row is gone
REASON_LENGTH = 300


@dataclass
class Member:
    """One actor of a pool, as the pool tracks it."""

    handle: Any
    name: str
    info: WorkerInfo | None = None
    affinity: str | None = None
    summary: WorkerSummary | None = None
    gone: bool = False  # dead with its restarts used up
    failed_probes: int = 0


@dataclass(frozen=True)
class Stream:
    """Jobs that arrive over time (a server's queue) instead of a list known up front.

    `next_job()` is asked whenever a worker is idle and nothing is queued (None: nothing
    now); `tick()` runs every turn of the loop, in the loop's thread (progress, cancellations,
    time limits: it may call `Dispatch.stop`); `stopped()` True ends the loop at once, jobs in
    flight abandoned; `idle_wait(seconds)` waits while there is nothing to do (a server wakes
    it when a task arrives); `step` is the longest wait for an answer between ticks."""

    next_job: Callable[[], Job | None]
    tick: Callable[[], None]
    stopped: Callable[[], bool]
    idle_wait: Callable[[float], None]
    step: float = 0.2


class Dispatch:
    """The bookkeeping of one `WorkerPool.run` or `WorkerPool.serve`."""

    def __init__(self, pool, jobs: list[Job], on_outcome: Callable[[JobOutcome], None],
                 stream: Stream | None = None):
        self.pool, self.on_outcome, self.stream = pool, on_outcome, stream
        self.queues: dict[str, deque[Job]] = {}
        for job in jobs:
            self.queues.setdefault(job.affinity, deque()).append(job)
        self.retries: deque[Job] = deque()
        self.later: dict[str, tuple[float, Member]] = {}  # workers to ask again, and when
        self.lost: dict[str, list[LostAttempt]] = {}
        self.busy: dict[Any, tuple[Member, Job, float]] = {}
        probing = list(pool.probes.values())
        self.idle: list[Member] = [w for w in pool.workers
                                   if w.info is not None and w not in probing]
        for worker in pool.workers:  # left coming back by an earlier run: ask again
            if worker.info is None and not worker.gone and worker not in probing:
                pool.probe(worker)

    def pending(self) -> bool:
        return bool(self.retries or any(self.queues.values()))

    def running(self) -> dict[str, WorkerInfo | None]:
        """The jobs in flight, by key, and the worker making each."""
        return {job.key: worker.info for worker, job, _ in list(self.busy.values())}

    def loop(self) -> None:
        ray = require_ray()
        stream = self.stream
        step = stream.step if stream is not None else WAIT_STEP
        while self.pending() or self.busy or stream is not None:
            if stream is not None and stream.stopped():
                break
            self.reprobe()
            self.assign()
            if stream is not None:
                stream.tick()
            waiting = list(self.busy) + list(self.pool.probes)
            if not waiting:
                if not self.later and (stream is None or not self.idle):
                    self.give_up("no Ray worker is left to make it (every worker died)")
                    if stream is None:
                        break
                if stream is not None:
                    stream.idle_wait(step)
                else:
                    time.sleep(step)
                continue
            ready, _ = ray.wait(waiting, num_returns=1, timeout=step)
            for ref in ready:
                if ref in self.busy:
                    self.answered(ray, ref)
                elif ref in self.pool.probes:
                    self.probed(ray, ref)
            self.check_start()

    def reprobe(self) -> None:
        now = time.monotonic()
        for name, (due, worker) in list(self.later.items()):
            if due <= now:
                del self.later[name]
                self.pool.probe(worker)

    def assign(self) -> None:
        for worker in list(self.idle):
            job = self.next_job(worker)
            if job is None and self.stream is not None:
                job = self.stream.next_job()
            if job is None:
                continue
            self.idle.remove(worker)
            worker.affinity = job.affinity
            ref = worker.handle.call.remote(job.fn, *job.args)
            self.busy[ref] = (worker, job, time.monotonic())

    def next_job(self, worker: Member) -> Job | None:
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

    def stop(self, key: str, reason: str) -> bool:
        """End job `key` now with `reason` (an outcome with `stopped` set): a queued job is
        dropped, a running one's actor is ended and replaced by a fresh one. False when the
        job is not this dispatch's."""
        for queue in (self.retries, *self.queues.values()):
            for job in list(queue):
                if job.key == key:
                    queue.remove(job)
                    self.finish(JobOutcome(key, error=reason, stopped=True,
                                           lost=self.lost.get(key, [])))
                    return True
        for ref, (worker, job, submitted) in list(self.busy.items()):
            if job.key == key:
                del self.busy[ref]
                log.info("stopping %s on worker %s: %s", key, worker.name, reason)
                self.finish(JobOutcome(key, error=reason, stopped=True, worker=worker.info,
                                       lost=self.lost.get(key, []),
                                       seconds=time.monotonic() - submitted))
                self.pool.replace(worker)
                return True
        return False

    def answered(self, ray, ref) -> None:
        worker, job, submitted = self.busy.pop(ref)
        seconds = time.monotonic() - submitted
        summary = worker.summary
        try:
            value = ray.get(ref)
        except death_errors(ray) as error:
            info = worker.info
            lost = LostAttempt(worker.name, info.node if info else "?", info.pid if info else 0,
                               reason(error))
            log.warning("worker %s died making %s: %s", worker.name, job.key, lost.error)
            self.lost.setdefault(job.key, []).append(lost)
            if summary is not None:
                summary.lost += 1
            worker.info = None  # it answers again once Ray has restarted it
            self.pool.probe(worker)
            if len(self.lost[job.key]) >= self.pool.settings.max_attempts:
                self.finish(JobOutcome(job.key, error=self.lost_reason(job.key),
                                       lost=self.lost[job.key]))
            else:
                self.retries.append(job)
            return
        except ray.exceptions.RayTaskError as error:  # the job raised: a bug, not a death
            outcome = JobOutcome(job.key, error=reason(error.cause or error), worker=worker.info,
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
        worker = self.pool.probes.pop(ref)
        try:
            info = ray.get(ref)
        except ray.exceptions.ActorUnavailableError:  # Ray is restarting it: ask again later
            self.later[worker.name] = (time.monotonic() + WAIT_STEP, worker)
            return
        except death_errors(ray) as error:  # dead; gone for good once restarts are used up
            worker.failed_probes += 1
            if worker.failed_probes >= DEAD_PROBES:
                log.warning("worker %s is gone: %s", worker.name, reason(error))
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
        if time.monotonic() - self.pool.started > self.pool.settings.start_timeout:
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
        return bounded(f"its worker died {len(lost)} times while making it ({where})")

    def give_up(self, why: str) -> None:
        jobs = list(self.retries) + [job for q in self.queues.values() for job in q]
        self.retries.clear()
        for queue in self.queues.values():
            queue.clear()
        for job in jobs:
            self.finish(JobOutcome(job.key, error=why, lost=self.lost.get(job.key, [])))


def death_errors(ray) -> tuple[type, ...]:
    """Ray's errors that mean the worker (or its node) died, not that the job raised."""
    e = ray.exceptions
    return (e.RayActorError, e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError,
            e.OutOfMemoryError)


def reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return bounded(f"{type(error).__name__}: {text}")


def bounded(text: str) -> str:
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 1] + "…"
