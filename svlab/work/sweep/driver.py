"""`svlab.sweep`: a sweep run to the end, resumably, with one bar over all of it.

    table = svlab.sweep("sweep.yaml", out="sweeps/motion")
    table = svlab.sweep(out="sweeps/motion", base={"profile": "cpu-tiny"},
                        inputs=[{"image": "photo.png"}],
                        grid={"seed": [0, 1], "motion_bucket_id": [1, 127, 255]})

Running the same sweep again makes only the runs that are missing or failed: a run is done
when its video and manifest are in place (see `svlab.work.sweep.plan`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from svlab.work.distributed import PoolSettings
from svlab.core.errors import InputError
from svlab.work.sweep.executors import Executor, ExecutionOptions, LocalExecutor, RunResult, finished_result
from svlab.work.sweep.plan import SweepPlan, plan_sweep, remove_partial_files, sweep_lock
from svlab.work.sweep.ray_executor import RayExecutor
from svlab.work.sweep.results import results_frame, write_results
from svlab.work.sweep.spec import SweepSpec
from svlab.work.sweep.ownership import check_table_owner

TABLE_INTERVAL = 1.0  # seconds: the table on disk is rewritten at most this often mid-sweep


def sweep(
    spec: str | Path | Mapping[str, Any] | SweepSpec | None = None,
    out: str | Path | None = None,
    *,
    base: Mapping[str, Any] | None = None,
    inputs: Any = None,
    grid: Mapping[str, Any] | None = None,
    zip: Mapping[str, Any] | None = None,  # noqa: A002 - the sweep file's own section name
    runs: Any = None,
    seeds: Any = None,
    max_runs: int | None = None,
    allow_fallback: bool = False,
    reuse: bool = True,
    metrics: bool = True,
    progress: bool = True,
    executor: Executor | None = None,
    ray: str | bool | None = None,
    workers: int | None = None,
):
    """Run a sweep into the folder `out` and return its table (a pandas DataFrame, also at
    `out/results.csv`, its path in `table.attrs["path"]`).

    The sweep is a file or a mapping (`spec`), or its sections as keyword arguments. Every
    mistake in it is refused before anything runs. `max_runs` allows more than 10,000 runs.
    `allow_fallback` answers an explicitly named model that cannot load with the fallback
    engine (otherwise those runs fail, with the reason in the table). `reuse` computes the
    conditioning that runs of one image share once; `metrics` measures every video.
    `executor` makes the runs (default: here, one after another); `ray=True` (a Ray started
    here) or `ray="auto"` / an address makes them on a Ray cluster, with at most `workers`
    workers (docs/distributed.md)."""
    plan = plan_sweep(_source(spec, base=base, inputs=inputs, grid=grid, zip=zip, runs=runs,
                              seeds=seeds), _required(out), max_runs=max_runs)
    options = ExecutionOptions(allow_fallback=allow_fallback, reuse=reuse, metrics=metrics)
    if executor is None and (ray or workers is not None):
        executor = RayExecutor(options, address=None if ray is True else (ray or None),
                               settings=PoolSettings(workers=workers))
    return run_plan(plan, executor or LocalExecutor(options), metrics=metrics,
                    progress=progress)


def run_plan(plan: SweepPlan, executor: Executor, *, metrics: bool = True,
             progress: bool = True):
    """Make the runs of `plan` that are not done yet and return the sweep's table."""
    check_table_owner(plan)  # before the lock file or the table is written
    with sweep_lock(plan.out):
        remove_partial_files(plan.out)
        done = plan.done()
        results: dict[str, RunResult] = {
            task.key: finished_result(task, metrics=metrics)
            for task in plan.tasks if task.key in done}
        todo = [task for task in plan.tasks if task.key not in done]
        table = _Table(plan, results)
        bar = _Progress(len(plan.tasks), len(done), enabled=progress)

        def report(result: RunResult) -> None:
            results[result.key] = result
            bar.update(result)
            table.write(force=False)

        try:
            executor.run(plan.groups(todo), report)
        finally:
            bar.close()
            table.write(force=True)
    return results_frame(plan, results)


class _Table:
    """The table on disk, rewritten after runs finish, at most every TABLE_INTERVAL seconds
    mid-sweep (the runs' own files are the record; the table is rebuilt from them)."""

    def __init__(self, plan: SweepPlan, results: dict[str, RunResult]):
        self.plan, self.results, self.written = plan, results, 0.0
        self.write(force=True)

    def write(self, *, force: bool) -> None:
        if force or time.monotonic() - self.written >= TABLE_INTERVAL:
            write_results(results_frame(self.plan, self.results), self.plan.results)
            self.written = time.monotonic()


class _Progress:
    """One tqdm.auto bar over the whole sweep: runs done, failed and left, and the ETA."""

    def __init__(self, total: int, done: int, *, enabled: bool):
        from tqdm.auto import tqdm

        self.done, self.failed, self.total = done, 0, total
        self.bar = tqdm(total=total, initial=done, desc="sweep", unit="run",
                        disable=not enabled, dynamic_ncols=True)
        self._postfix()

    def update(self, result: RunResult) -> None:
        if result.status == "done":
            self.done += 1
        else:
            self.failed += 1
        self._postfix()
        self.bar.update(1)

    def _postfix(self) -> None:
        self.bar.set_postfix(done=self.done, failed=self.failed,
                             left=self.total - self.done - self.failed, refresh=False)

    def close(self) -> None:
        self.bar.close()


def _source(spec, **sections):
    given = {name: value for name, value in sections.items() if value is not None}
    if spec is not None and given:
        raise InputError(f"give a sweep (file or mapping) or its sections "
                         f"({', '.join(given)}), not both")
    if spec is None and not given:
        raise InputError("nothing to sweep: give a sweep file or mapping, or its sections "
                         "(base, inputs, grid, zip, runs, seeds)")
    return spec if spec is not None else given


def _required(out) -> str | Path:
    if out is None:
        raise InputError("give out=DIR: the folder the sweep's runs and table go to")
    return out
