"""Runs on a Ray cluster: one worker per GPU (or CPU workers with pinned threads), each keeping
what it loaded between calls.

    cluster.py   joining a Ray cluster, or starting Ray on this machine (`ray_session`)
    pool.py      `WorkerPool`: Ray actors fed jobs by affinity (one model load per worker and
                 loading key), a lost worker's job retried on another, with a cap
    dispatch.py  how jobs are handed out: a list known up front, or a `Stream` fed over time
                 (a server's queue), jobs stopped on request
    records.py   the typed records a pool passes back (where a job ran, what it cost)

Ray is an optional extra (`pip install 'svlab[ray]'`): nothing here imports it at module
level, and `import svlab` never does. Sweeps (`svlab.work.sweep.ray_executor`) and storyboards
(`svlab.work.distributed.ray_scenes`) and the task API (`svlab.work.tasks.execution.ray_workers`) use the pool; see
docs/distributed.md.
"""

from svlab.work.distributed.cluster import ray_session, require_ray
from svlab.work.distributed.dispatch import Stream
from svlab.work.distributed.pool import WorkerPool
from svlab.work.distributed.jobs import Job, JobOutcome, LostAttempt, PoolSettings, WorkerInfo, WorkerSummary

__all__ = ["Job", "JobOutcome", "LostAttempt", "PoolSettings", "WorkerInfo", "WorkerPool",
           "Stream", "WorkerSummary", "ray_session", "require_ray"]
