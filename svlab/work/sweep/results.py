"""The table of a sweep: one row per run, with its varied settings under their own names, its
status (and a failure's reason), its metrics, and the seconds and peak memory of each stage
from its manifest. Written as `DIR/results.csv` (atomically: a reader never sees half a table)
and returned as a pandas DataFrame."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

from svlab.core.errors import InputError
from svlab.render.eval.metrics import VideoMetrics
from svlab.core.files import atomic_output
from svlab.work.sweep.executors import RunResult
from svlab.work.sweep.plan import RESULTS_FILE, RunTask, SweepPlan
from svlab.core.bounded import read_text_capped
from svlab.core.csv_cells import neutralise_frame, restore_frame

METRICS = [f.name for f in dataclasses.fields(VideoMetrics)]
COUNTS = ("reused", "frames", "nan_frames", "black_frames")
TABLE_COLUMNS = ("key", "status", "input", "video", "manifest")  # what makes it a sweep's
MAX_TABLE_BYTES = 64 << 20


def result_row(task: RunTask, result: RunResult | None, out: Path) -> dict[str, Any]:
    """The row of one run: who it is, how it went, what it measured."""
    row: dict[str, Any] = {
        "key": task.key,
        "status": result.status if result else "pending",
        "reason": result.reason if result else None,
        "input": task.input.label,
        "image": str(task.input.image) if task.input.image else None,
        "prompt": task.input.prompt,
        **task.varied,
        "engine": result.engine if result else None,
        "seconds": round(result.seconds, 3) if result and result.seconds is not None else None,
        "reused": result.reused if result else None,
    }
    measured = result.metrics.to_dict() if result and result.metrics else {}
    row.update({name: measured.get(name) for name in METRICS})
    for stage, stats in (result.stages if result else {}).items():
        row[f"seconds_{stage}"] = stats.get("seconds")
        row[f"peak_bytes_{stage}"] = stats.get("peak_bytes")
    row["video"] = str(task.video.relative_to(out))
    row["manifest"] = str(task.manifest.relative_to(out))
    return row


def results_frame(plan: SweepPlan, results: dict[str, RunResult]):
    """The sweep's table as a DataFrame, rows in the order the sweep lists its runs."""
    import pandas as pd

    rows = [result_row(task, results.get(task.key), plan.out) for task in plan.tasks]
    frame = pd.DataFrame(rows)
    for name in ("seconds", "reused", *METRICS):
        frame[name] = pd.to_numeric(frame[name])
    for name in COUNTS:  # whole numbers, missing for runs not measured
        frame[name] = frame[name].astype("Int64")
    frame.attrs["path"] = str(plan.results)
    return frame


def write_results(frame, path: Path) -> Path:
    """Write the table as CSV, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_output(path) as tmp:
            neutralise_frame(frame).to_csv(tmp, index=False)  # no formulas in spreadsheets
    except OSError as e:  # disk full, read-only: the old table stays; one line, not a trace
        raise InputError(f"cannot write the sweep's table {path}: {e.strerror or e}; the "
                         "runs' own files are kept (run the sweep again to rewrite it)") \
            from None
    return path


def read_results(path: str | Path):
    """A sweep's table from its CSV (`DIR/results.csv` or DIR itself)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise InputError(f"no sweep results at {path}: run the sweep first "
                         "(svlab sweep SWEEP.yaml --out DIR)")
    text = read_text_capped(path, "sweep table", max_bytes=MAX_TABLE_BYTES)
    try:
        frame = pd.read_csv(io.StringIO(text), keep_default_na=True)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputError(f"{path} is not a sweep table: {' '.join(str(e).split())[:160]}") \
            from None
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path} is not an svlab sweep table: it has no column "
                         f"{', '.join(missing)}")
    frame = restore_frame(frame)
    frame.attrs["path"] = str(path)
    return frame


def previous_statuses(path: Path) -> dict[str, tuple[str, str | None]]:
    """(status, reason) by key from an earlier table, to say what failed before."""
    if not path.is_file():
        return {}
    frame = read_results(path)
    reasons = frame["reason"].where(frame["reason"].notna(), None)
    return dict(zip(frame["key"], zip(frame["status"], reasons)))
