"""Which model fits which card: every registry model at its default size against common VRAM
budgets, with the setting the planner recommends and its predicted peak (docs/models.md and
notebooks/02_vram_profile.ipynb show it; `svlab models` lists each model's default peak).

Everything is predicted on the meta device: no weights, no GPU. One process plans each
architecture once and reuses its traces across budgets (`svlab.memory.predict.meta_model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from svlab.core.errors import ConfigError
from svlab.models import get_spec, list_specs
from svlab.memory.planner import recommend
from svlab.memory.predict import gib, plan_memory

BUDGETS_GIB = (8, 12, 16, 24, 48, 80)
GIB = 2**30


@dataclass(frozen=True)
class FitCell:
    """One model against one budget: the fastest setting that fits, or why none does."""

    vram_bytes: int
    fits: bool
    settings: dict[str, Any] = field(default_factory=dict)  # offload and memory options
    peak_bytes: int | None = None
    reason: str | None = None  # when nothing fits


@dataclass(frozen=True)
class ModelFit:
    """A model at its default size and dtype: parameters per component, the predicted peak
    with nothing offloaded, and a cell per budget."""

    model: str
    family: str
    height: int
    width: int
    num_frames: int
    dtype: str
    params: dict[str, int]
    peak_bytes: int  # default settings (all weights on the device)
    cells: list[FitCell]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "family": self.family, "height": self.height,
                "width": self.width, "num_frames": self.num_frames, "dtype": self.dtype,
                "params": dict(self.params), "peak_bytes": self.peak_bytes,
                "cells": [vars(c) | {"settings": dict(c.settings)} for c in self.cells]}


def default_plan(model: str) -> dict[str, Any]:
    """The plan of `model` at its default size, frames and half precision on CUDA, nothing
    offloaded: the figure `svlab models` lists."""
    return plan_memory(model, dtype=get_spec(model).dtype)


def fit_table(models: list[str] | None = None, budgets_gib=BUDGETS_GIB, *,
              include_tiny: bool = False, headroom: float = 0.1) -> list[ModelFit]:
    """Every registry model (the tiny ones with `include_tiny`), or `models`, at its default
    settings against each budget (GiB): `recommend`'s setting and predicted peak per cell."""
    ids = models or [s.id for s in list_specs() if include_tiny or not s.id.startswith("tiny")]
    rows = []
    for model in ids:
        spec = get_spec(model)
        plan = default_plan(model)
        cells = []
        for budget in budgets_gib:
            vram = int(budget * GIB)
            try:
                found = recommend(model, vram_bytes=vram, headroom=headroom)
            except ConfigError as e:
                cells.append(FitCell(vram, False, reason=str(e)))
                continue
            chosen = {k: v for k, v in found["settings"].items()
                      if k != "dtype" and (v is True or k == "offload")}
            if found["settings"].get("decode_chunk_size", spec.num_frames) < spec.num_frames:
                chosen["decode_chunk_size"] = found["settings"]["decode_chunk_size"]
            cells.append(FitCell(vram, True, chosen, found["peak_bytes"]))
        rows.append(ModelFit(spec.id, spec.family, spec.height, spec.width, spec.num_frames,
                             spec.dtype, dict(plan["params"]), plan["peak_bytes"], cells))
    return rows


def fit_markdown(rows: list[ModelFit]) -> str:
    """The table as Markdown: a row per model, a column per budget ("offload, options, peak"
    or "no"), then its parameters per component in billions."""
    budgets = [c.vram_bytes for c in rows[0].cells] if rows else []
    head = ["model", "size, frames", "default peak"] + [f"{gib(b):g} GiB" for b in budgets] \
        + ["parameters (B)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [_cell(c) for c in row.cells]
        params = ", ".join(f"{name} {n / 1e9:.2f}" for name, n in row.params.items())
        lines.append("| " + " | ".join(
            [f"`{row.model}`", f"{row.height}x{row.width}, {row.num_frames} ({row.dtype})",
             f"{gib(row.peak_bytes):.1f} GiB", *cells, params]) + " |")
    return "\n".join(lines)


def _cell(cell: FitCell) -> str:
    if not cell.fits:
        return "no"
    options = [k.replace("_", " ") for k, v in cell.settings.items() if v is True]
    offload = cell.settings.get("offload", "none")
    chunk = cell.settings.get("decode_chunk_size")
    options += [f"decode chunk {chunk}"] if chunk else []
    what = ", ".join(([] if offload == "none" else [f"{offload} offload"]) + options) or "as is"
    return f"{what}: {gib(cell.peak_bytes):.1f}"
