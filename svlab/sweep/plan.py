"""A sweep's plan: every run with its key and its files, what is already done, and the order
the runs are made in.

    DIR/runs/<key>.mp4            the run's video
    DIR/runs/<key>.json           its manifest (written last: a run is done when both exist)
    DIR/runs/<key>.metrics.json   its metrics, computed from the video
    DIR/results.csv               one row per run (svlab.sweep.results)

A video and its manifest are published together (`svlab.outputs.Publication`: hidden files,
then renames), so a sweep killed at any moment, SIGKILL included, leaves either a finished run
or hidden partial files, which the next start removes; a half-written video is never taken
as done.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..config import VideoConfig
from ..errors import InputError
from ..run.clip import loading_key
from .expand import expand
from .keys import model_identity, run_key
from .spec import SweepInput, SweepSpec, load_sweep

log = logging.getLogger(__name__)

RUNS_FOLDER = "runs"
RESULTS_FILE = "results.csv"
LOCK_FILE = ".sweep.lock"


@dataclass(frozen=True)
class RunTask:
    """One run, with everything a worker needs to make it, here or on another machine: the
    config, the input (an absolute path and/or a prompt) and where its files go."""

    key: str
    index: int  # its place in the sweep as written
    config: VideoConfig
    input: SweepInput
    varied: dict[str, Any]
    video: Path

    @property
    def manifest(self) -> Path:
        return self.video.with_suffix(".json")

    @property
    def metrics(self) -> Path:
        return self.video.with_suffix(".metrics.json")


@dataclass
class SweepPlan:
    """The runs of a sweep in the order written, their folder, and the varied settings."""

    out: Path
    spec: SweepSpec
    tasks: list[RunTask]
    varied: list[str]

    @property
    def results(self) -> Path:
        return self.out / RESULTS_FILE

    def done(self) -> set[str]:
        """Keys of the runs whose video and manifest are both in place."""
        return {task.key for task in self.tasks if is_done(task)}

    def groups(self, tasks: list[RunTask] | None = None) -> list[list[RunTask]]:
        """`tasks` (default: all) in the order they should run: one group per model loading
        key (one model load serves a group), and inside a group the runs of one input and one
        seed and noise augmentation next to each other, so that what they share is reused."""
        groups: dict[tuple, list[RunTask]] = {}
        for task in tasks if tasks is not None else self.tasks:
            groups.setdefault(loading_key(task.config), []).append(task)
        inputs = {source: i for i, source in enumerate(self.spec.inputs)}

        def reuse_order(task: RunTask) -> tuple:
            c = task.config
            return (inputs[task.input], c.height, c.width, c.seed, c.noise_aug_strength,
                    task.index)

        return [sorted(group, key=reuse_order) for group in groups.values()]


def plan_sweep(spec: str | Path | Mapping[str, Any] | SweepSpec, out: str | Path, *,
               max_runs: int | None = None) -> SweepPlan:
    """Read and check a sweep, expand it and key its runs under the folder `out`. Nothing
    runs; every mistake in the sweep is found here."""
    out = _folder(out)
    spec = load_sweep(spec, store=out)
    runs = expand(spec, max_runs)
    identities: dict[tuple, Any] = {}
    tasks, seen = [], set()
    for run in runs:
        which = (run.config.model, run.config.device)
        if which not in identities:
            identities[which] = model_identity(run.config)
        key = run_key(run.config, run.input, identities[which])
        if key in seen:  # the same frames twice (an input listed twice): made once
            log.info("run %d repeats an earlier run (key %s): made once", run.index, key)
            continue
        seen.add(key)
        tasks.append(RunTask(key=key, index=run.index, config=run.config, input=run.input,
                             varied=run.varied, video=out / RUNS_FOLDER / f"{key}.mp4"))
    return SweepPlan(out=out, spec=spec, tasks=tasks, varied=spec.varied)


def is_done(task: RunTask) -> bool:
    """The run's video and manifest are in place, and the manifest reads back."""
    if not (task.video.is_file() and task.manifest.is_file()):
        return False
    try:
        return "output" in json.loads(task.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def remove_partial_files(out: Path) -> int:
    """Remove the hidden partial files an interrupted sweep left in its runs folder (a video
    or manifest being published, metrics being written); returns how many."""
    folder = out / RUNS_FOLDER
    removed = 0
    for path in folder.glob(".*.part*") if folder.is_dir() else ():
        path.unlink(missing_ok=True)
        removed += 1
    for path in out.glob(f".{Path(RESULTS_FILE).stem}.*.part*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


@contextlib.contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Only one sweep at a time in a folder; the lock goes with the process (even a SIGKILL
    releases it)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"another sweep is running in {out}; wait for it or choose "
                             "another folder") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _folder(out: str | Path) -> Path:
    out = Path(out)
    if "\0" in str(out):
        raise InputError("output folder path contains a NUL byte")
    if out.exists() and not out.is_dir():
        raise InputError(f"output {str(out)!r} is a file; a sweep writes into a folder")
    existing = next(p for p in (out, *out.parents) if p.exists() or p == p.parent)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the sweep into {str(out)!r}: {str(existing)!r} is not "
                         "a writable folder")
    return out
