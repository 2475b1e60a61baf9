"""The planner's measurements kept on disk, so a plan asked again needs neither torch nor
diffusers.

Why: a full-size plan costs a few seconds of tracing but over ten of importing diffusers (its
0.4x releases import every model class to load one) and torch. A researcher asks the same
model again and again: another budget, another option, the fit table. What a plan is made of,
the counts of an architecture's weights (`ModelCounts`) and the activation trace of each stage
for the settings it depends on (`Family.trace_key`), is kept per architecture and dtype in
one JSON file under `SVLAB_PLAN_CACHE` (default `~/.cache/svlab/plans`; `off` keeps nothing).

A file is named by everything its figures depend on: the family, the architecture (the
registry's component configs), the dtype, the versions of torch, diffusers, transformers and
accelerate, and the source of svlab's planner and model families. Any change to those starts a
new file, so a figure is never read back from other code. A file that cannot be read is
ignored and rewritten; one that cannot be written (a read-only home) only costs the speed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from svlab.core.files import atomic_output
from svlab.core.records import TraceStep
from svlab.memory.counts import ModelCounts

log = logging.getLogger(__name__)

CACHE_ENV = "SVLAB_PLAN_CACHE"
FORMAT = 1
LIBRARIES = ("torch", "diffusers", "transformers", "accelerate")
_SOURCES = ("memory", "models", "core/records.py")  # what a traced figure depends on in svlab


@dataclass
class PlanRecord:
    """What the planner measured of one architecture in one dtype: counts with and without
    layerwise casting, and stage traces by trace key. `path`: where it is kept (None: not)."""

    path: Path | None
    counts: dict[bool, ModelCounts] = field(default_factory=dict)
    traces: dict[tuple, list[TraceStep]] = field(default_factory=dict)


def cache_folder() -> Path | None:
    """The folder plans are kept in, or None when SVLAB_PLAN_CACHE is `off`."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    return Path(value or "~/.cache/svlab/plans").expanduser()


def load_record(family: str, architecture: str, dtype_name: str) -> PlanRecord:
    """The record kept for this architecture and dtype, or an empty one."""
    folder = cache_folder()
    if folder is None:
        return PlanRecord(path=None)
    name = _digest(family, architecture, dtype_name, fingerprint())
    record = PlanRecord(path=folder / f"{family}-{dtype_name}-{name[:20]}.json")
    try:
        data = json.loads(record.path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return record
        record.counts = {flag == "true": ModelCounts(**c) for flag, c in data["counts"].items()}
        record.traces = {tuple(t["key"]): [TraceStep(**s) for s in t["steps"]]
                         for t in data["traces"]}
        _check(record)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        log.debug("ignoring the unreadable plan cache %s: %s", record.path, e)
        record.counts, record.traces = {}, {}
    return record


MAX_FIGURE = 2**50  # bytes or parameters of one component or stage: 1 PiB


def _whole(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FIGURE:
        raise ValueError(f"{what} is {value!r:.40}, not a whole number from 0 to {MAX_FIGURE}")


def _check(record: PlanRecord) -> None:
    """ValueError unless every figure read back has the type and range the planner writes
    (a damaged or hand-edited file is then ignored and rebuilt, never believed)."""
    for counts in record.counts.values():
        for name in ("params", "float_bytes", "other_bytes", "largest_layer", "block_group"):
            table = getattr(counts, name)
            if not isinstance(table, dict):
                raise ValueError(f"{name} is not a mapping")
            for component, value in table.items():
                if not isinstance(component, str):
                    raise ValueError(f"{name} has a key that is not text")
                _whole(value, f"{name}[{component}]")
        if counts.itemsize not in (1, 2, 4, 8) or isinstance(counts.itemsize, bool):
            raise ValueError(f"itemsize is {counts.itemsize!r:.40}")
    for key, steps in record.traces.items():
        if any(isinstance(k, (dict, list)) for k in key):
            raise ValueError("a trace key holds a mapping or a list")
        for step in steps:
            if not isinstance(step.stage, str) or not isinstance(step.component, (str, type(None))) \
                    or not isinstance(step.weight_dtype, (str, type(None))):
                raise ValueError(f"a trace step of {key} has a wrong type")
            _whole(step.activation_bytes, f"activation_bytes of {key}")


def save_record(record: PlanRecord) -> None:
    """Write `record` whole (a temporary file renamed over the old one), if it is kept."""
    if record.path is None:
        return
    data = {"format": FORMAT,
            "counts": {str(flag).lower(): asdict(c) for flag, c in record.counts.items()},
            "traces": [{"key": list(key), "steps": [asdict(s) for s in steps]}
                       for key, steps in record.traces.items()]}
    try:
        record.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(record.path) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf-8")
    except OSError as e:
        log.debug("cannot keep the plan in %s: %s", record.path, e)


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """The library versions and svlab planner sources a kept figure depends on."""
    parts = []
    for name in LIBRARIES:
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}=absent")
    root = Path(__file__).resolve().parents[1]
    for source in _SOURCES:
        path = root / source
        for file in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            parts.append(hashlib.sha256(file.read_bytes()).hexdigest())
    return _digest(*parts)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
