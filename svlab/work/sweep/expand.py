"""A sweep's runs: the product of its sections, counted before anything is expanded (a sweep of
a million runs needs an explicit `max_runs`), then each run's settings resolved into a config,
so that a bad value is refused, with where it came from, before any run starts."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError
from svlab.run.settings import load_config
from svlab.work.sweep.spec import SweepInput, SweepSpec

DEFAULT_MAX_RUNS = 10_000


@dataclass(frozen=True)
class Variation:
    """One point of what varies: the settings it sets (as the sweep wrote them), and which
    section set each of them (for error messages)."""

    settings: dict[str, Any]
    origin: dict[str, str]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep, before its key: its place in the sweep, input and config."""

    index: int
    input: SweepInput
    config: VideoConfig
    varied: dict[str, Any]  # the varied settings' values as the config holds them


def count_runs(spec: SweepSpec) -> int:
    """How many runs the sweep makes, without making them."""
    grid = math.prod(len(values) for values in spec.grid.values())
    rows = len(next(iter(spec.zip.values()))) if spec.zip else 1
    return (len(spec.runs) or 1) * grid * rows * (len(spec.seeds) or 1) * len(spec.inputs)


def check_size(spec: SweepSpec, max_runs: int | None) -> int:
    """The number of runs, refused above `max_runs` (default DEFAULT_MAX_RUNS)."""
    limit = DEFAULT_MAX_RUNS if max_runs is None else max_runs
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"max_runs must be a whole number >= 1, got {max_runs!r}")
    count = count_runs(spec)
    if count > limit:
        allowed = "allowed by default" if max_runs is None else "allowed by max_runs"
        raise ConfigError(f"the sweep makes {count:,} runs, more than the {limit:,} {allowed}; "
                          f"to run them all pass --max-runs {count} (Python: max_runs={count}), "
                          "or make the grid smaller")
    return count


def variations(spec: SweepSpec) -> list[Variation]:
    """Every point of runs × grid × zip × seeds, in the order the sweep lists them (seeds
    innermost)."""
    grid_names, zip_names = list(spec.grid), list(spec.zip)
    zip_rows = list(zip(*spec.zip.values())) if spec.zip else [()]
    found = []
    for r, run in enumerate(spec.runs or ({},)):
        for point in itertools.product(*spec.grid.values()):
            for z, row in enumerate(zip_rows):
                for seed in spec.seeds or (None,):
                    settings = {**run, **dict(zip(grid_names, point)), **dict(zip(zip_names, row))}
                    origin = {**{n: f"runs[{r}]" for n in run}, **{n: "grid" for n in grid_names},
                              **{n: f"zip row {z}" for n in zip_names}}
                    if seed is not None:
                        settings["seed"], origin["seed"] = seed, "seeds"
                    found.append(Variation(settings, origin))
    return found


def expand(spec: SweepSpec, max_runs: int | None = None) -> list[PlannedRun]:
    """Every run of the sweep with its resolved config: inputs outermost, then the variations.
    ConfigError, naming the section and value, when a run's settings are not valid."""
    check_size(spec, max_runs)
    varied = spec.varied
    configs = []
    for variation in variations(spec):
        config = resolve(spec, variation)
        values = {**config.to_dict(),
                  "profile": variation.settings.get("profile", spec.base.get("profile"))}
        configs.append((config, {name: values[name] for name in varied}))
    return [PlannedRun(index=i * len(configs) + j, input=source, config=config, varied=values)
            for i, source in enumerate(spec.inputs)
            for j, (config, values) in enumerate(configs)]


def resolve(spec: SweepSpec, variation: Variation) -> VideoConfig:
    """The config of one variation over the base; an error names where the bad value is."""
    try:
        return load_config({**spec.base, **variation.settings})
    except ConfigError as error:
        raise ConfigError(_locate(spec, variation, error)) from None


def _locate(spec: SweepSpec, variation: Variation, error: ConfigError) -> str:
    """The base, the one setting, or the combination that the error comes from."""
    if _fails(spec.base):
        return f"base: {error}"
    for name, value in variation.settings.items():
        if _fails({**spec.base, name: value}):
            return f"{variation.origin[name]}: {error}"
    shown = ", ".join(f"{n}={v!r}" for n, v in variation.settings.items())
    return f"the run with {shown}: {error}"


def _fails(settings: dict[str, Any]) -> bool:
    try:
        load_config(settings)
    except ConfigError:
        return True
    return False
