"""What a worker pool is given and gives back, typed: jobs, where each ran, what it cost.

Plain dataclasses without Ray in them, so that the callers (sweeps, storyboards) and their
tests read them without importing Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class PoolSettings:
    """How many workers and what each takes.

    `workers`: how many actors (default: one per GPU when the cluster has GPUs, else one
    per node). `gpus`: GPUs per worker (default 1 when the cluster has GPUs, else 0).
    `threads`: torch/OpenCV threads, and the CPUs each worker reserves (default: the
    cluster's CPUs shared among the workers, at most one node's). `max_attempts`: how many
    workers a job may take down before it is given up as failed. `max_restarts`: how often
    Ray brings a dead worker back. `start_timeout`: seconds to wait for a first worker."""

    workers: int | None = None
    gpus: float | None = None
    threads: int | None = None
    max_attempts: int = 3
    max_restarts: int = 3
    start_timeout: float = 300.0


@dataclass(frozen=True)
class Job:
    """One call to make on some worker: `fn(state, *args)`, where `state` is a dict the worker
    keeps between calls (a loaded model, a reuse cache). Jobs of one `affinity` share what a
    worker loads: a worker keeps taking jobs of its affinity while there are any. `fn` must
    be importable on the workers (a module-level function of an installed package)."""

    key: str
    affinity: str
    fn: Callable[..., Any]
    args: tuple = ()


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process: its name in the pool, its node, its process id, and its GPUs."""

    name: str
    node: str  # the node's IP address
    node_id: str
    pid: int
    gpus: tuple[str, ...] = ()  # Ray's GPU ids for the worker (CUDA_VISIBLE_DEVICES)
    gpu_name: str | None = None  # the CUDA device's name, when torch sees one
    threads: int = 1

    def describe(self) -> str:
        gpu = f" GPU {','.join(self.gpus)}" if self.gpus else ""
        name = f" ({self.gpu_name})" if self.gpu_name else ""
        return f"{self.name} on {self.node}{gpu}{name} pid {self.pid}"


@dataclass(frozen=True)
class LostAttempt:
    """An attempt at a job that ended with its worker's death (SIGKILL, a lost node)."""

    worker: str
    node: str
    pid: int
    error: str


@dataclass
class JobOutcome:
    """What became of a job: `value` (what `fn` returned) or `error` (it raised, or it took
    down `max_attempts` workers, or it was stopped on request: `stopped`, with the reason in
    `error`); the worker that finished it and the attempts lost before."""

    key: str
    value: Any = None
    error: str | None = None
    worker: WorkerInfo | None = None
    lost: list[LostAttempt] = field(default_factory=list)
    seconds: float = 0.0  # from the job's submission to its answer, on the last attempt
    stopped: bool = False

    def execution(self, executor: str = "ray") -> dict[str, Any]:
        """Where the job was made and what it took: a manifest's `execution` section."""
        worker = self.worker
        return {
            "executor": executor,
            "worker": worker.name if worker else None,
            "node": worker.node if worker else None,
            "node_id": worker.node_id if worker else None,
            "pid": worker.pid if worker else None,
            "gpus": list(worker.gpus) if worker else [],
            "gpu_name": worker.gpu_name if worker else None,
            "threads": worker.threads if worker else None,
            "attempts": self.attempts,
            "lost_workers": [{"worker": a.worker, "node": a.node, "pid": a.pid,
                              "error": a.error} for a in self.lost],
        }

    @property
    def attempts(self) -> int:
        return len(self.lost) + (0 if self.error and self.worker is None else 1)


@dataclass
class WorkerSummary:
    """One worker's share of the work: jobs finished, seconds busy, workers lost, where."""

    name: str
    node: str
    gpus: tuple[str, ...]
    gpu_name: str | None
    jobs: int = 0
    seconds: float = 0.0
    lost: int = 0  # times this worker died while making a job

    def line(self) -> str:
        gpu = f"GPU {','.join(self.gpus)}" if self.gpus else "CPU"
        if self.gpu_name:
            gpu += f" ({self.gpu_name})"
        lost = f", died {self.lost}x" if self.lost else ""
        return f"{self.name}: {self.jobs} runs, {self.seconds:.1f} s, node {self.node}, {gpu}{lost}"
