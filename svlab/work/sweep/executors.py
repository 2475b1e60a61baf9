"""Executors make a sweep's runs and report each one as files plus a typed record.

An executor takes the runs already grouped by model loading key (`SweepPlan.groups`) and
calls `report(RunResult)` once per run, as each finishes. A group is made with one model
load, its runs one after another with the conditioning they share reused
(`svlab.work.sweep.reuse`); each run writes its video, manifest and metrics under `runs/`, and
only the record, never frames, comes back. `LocalExecutor` runs the groups in this process;
`svlab.work.sweep.ray_executor.RayExecutor` spreads the runs over Ray workers, each calling the
same `execute_task` with a model kept per loading key.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from svlab.core.errors import ModelUnavailableError, SvlabError
from svlab.render.eval.metrics import VideoMetrics, video_metrics
from svlab.models import VideoModelLoader
from svlab.media import read_video
from svlab.core.files import atomic_output
from svlab.core.run_index import record_metrics
from svlab.media.images import load_image
from svlab.run.clip import cached_loader, model_to_load
from svlab.render.service import generate
from svlab.work.sweep.plan import RunTask
from svlab.work.sweep.reuse import ReuseStats, conditioning_reuse

log = logging.getLogger(__name__)

REASON_LENGTH = 500  # characters of a failure's message kept in the table


@dataclass(frozen=True)
class ExecutionOptions:
    """How runs are made: fallback allowed for an explicitly named model that cannot load,
    conditioning reused, metrics computed."""

    allow_fallback: bool = False
    reuse: bool = True
    metrics: bool = True


@dataclass
class RunResult:
    """What one run came to: "done" (its files are in place) or "failed" (with the reason)."""

    key: str
    status: str
    reason: str | None = None
    seconds: float | None = None  # a done run's stage seconds (manifest); a failure's wall time
    engine: str | None = None  # "model" or "fallback", from the manifest
    metrics: VideoMetrics | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # seconds, peak per stage
    reused: int = 0  # conditioning computations this run took from earlier runs


Report = Callable[[RunResult], None]


class Executor(Protocol):
    def run(self, groups: Sequence[Sequence[RunTask]], report: Report) -> None:
        """Make every run of every group, calling `report` once per run as it finishes."""


class LocalExecutor:
    """Runs the groups one after another in this process, on its device."""

    def __init__(self, options: ExecutionOptions = ExecutionOptions()):
        self.options = options

    def run(self, groups: Sequence[Sequence[RunTask]], report: Report) -> None:
        for group in groups:
            run_group(group, self.options, report)


def run_group(group: Sequence[RunTask], options: ExecutionOptions, report: Report) -> None:
    """The runs of one loading key: the model loaded once, then each run in turn."""
    if not group:
        return
    loader = group_loader(group[0])
    pipe = loader.pipeline if loader is not None and options.reuse else None
    with conditioning_reuse(pipe, loader.family if loader is not None else None) as stats:
        for task in group:
            report(execute_task(task, options, loader=loader, stats=stats))


def group_loader(task: RunTask) -> VideoModelLoader | None:
    """The loaded model of a group (svlab's model cache keeps it between groups and sweeps);
    None for the fallback engine, or when the model cannot load (each run then says why)."""
    model, _ = model_to_load(task.config)
    if model is None:
        return None
    loader = cached_loader(task.config.replace(model=model))
    try:
        loader.load()
    except ModelUnavailableError as e:
        log.info("model %s cannot load: %s", model, e)  # each run's failure says why
        return None
    return loader


def execute_task(task: RunTask, options: ExecutionOptions, *,
                 loader: VideoModelLoader | None = None,
                 stats: ReuseStats | None = None) -> RunResult:
    """Make one run and measure it. Any exception (a user's mistake or a bug) ends this run
    as "failed" with its reason; KeyboardInterrupt ends the sweep."""
    stats = stats or ReuseStats()
    hits, start = stats.hits, time.perf_counter()
    try:
        generate(image=task.input.image, prompt=task.input.prompt, config=task.config,
                 out=task.video, loader=loader, allow_fallback=options.allow_fallback)
    except Exception as error:
        log.warning("run %s failed: %s", task.key, error)
        return RunResult(task.key, "failed", reason=describe(error),
                         seconds=time.perf_counter() - start)
    result = finished_result(task, metrics=options.metrics)
    result.reused = stats.hits - hits
    return result


def finished_result(task: RunTask, *, metrics: bool = True) -> RunResult:
    """The record of a run whose files are in place: engine and stages from its manifest,
    metrics from its metrics file, computed from the video (and saved) when missing."""
    manifest = json.loads(task.manifest.read_text(encoding="utf-8"))
    stages = {name: {"seconds": s.get("seconds"), "peak_bytes": s.get("peak_bytes")}
              for name, s in (manifest.get("stages") or {}).items()}
    seconds = sum(s["seconds"] or 0.0 for s in stages.values())
    result = RunResult(task.key, "done", engine=manifest.get("engine"), stages=stages,
                       seconds=seconds)
    if metrics:
        try:
            result.metrics = read_metrics(task) or measure_video(task)
            record_metrics(task.video, result.metrics.to_dict())
        except Exception as error:  # the run stands; its row says why it has no metrics
            log.warning("metrics of run %s failed: %s", task.key, error)
            result.reason = f"metrics: {describe(error)}"
    return result


def measure_video(task: RunTask) -> VideoMetrics:
    """Metrics of the run's video as written (decoded, as a viewer sees it), against its
    input image fitted to the frame size; saved beside the video."""
    frames, _ = read_video(task.video)
    image = None
    if task.input.image is not None:
        image = np.asarray(load_image(task.input.image, frames.shape[2], frames.shape[1]))
    measured = video_metrics(frames, image)
    with atomic_output(task.metrics) as tmp:
        tmp.write_text(json.dumps({k: _finite_or_text(v) for k, v in measured.to_dict().items()},
                                  indent=2) + "\n", encoding="utf-8")
    return measured


def read_metrics(task: RunTask) -> VideoMetrics | None:
    """The saved metrics of a run, or None when there are none (or they do not read back)."""
    try:
        data = json.loads(task.metrics.read_text(encoding="utf-8"))
        return VideoMetrics(**{k: _number(v) for k, v in data.items()})
    except (OSError, ValueError, TypeError):
        return None


def describe(error: BaseException) -> str:
    """A failure's reason for the table: the message (a bug's type too), one line, bounded."""
    text = str(error) if isinstance(error, SvlabError) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= REASON_LENGTH else text[:REASON_LENGTH - 1] + "…"


def _finite_or_text(value: Any) -> Any:
    """Strict JSON has no inf or NaN: those are kept as text ("inf", "nan")."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, str) else value
