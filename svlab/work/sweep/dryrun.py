"""What a sweep would do, without doing it: its runs, how many are already done (or failed
before), and for each distinct memory-relevant setting the planner's predicted peak
(`svlab.memory.plan_memory`) against the device's memory (SVLAB_VRAM when set, else the CUDA
card's, else the host's for a CPU run), flagging what will not fit, with the planner's
recommendation (`svlab.memory.recommend`) where one fits."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError
from svlab.memory import parse_bytes, plan_memory, recommend
from svlab.models.registry import is_registered
from svlab.work.sweep.keys import model_identity
from svlab.work.sweep.plan import SweepPlan
from svlab.work.sweep.results import previous_statuses


@dataclass
class SettingPeak:
    """The predicted peak of one distinct setting, and whether it fits the device."""

    settings: dict[str, Any]
    runs: int
    peak_bytes: int | None = None
    peak_stage: str | None = None
    budget_bytes: int | None = None
    budget_source: str | None = None
    fits: bool | None = None  # None: no prediction (fallback engine, a model folder)
    note: str | None = None


@dataclass
class DryRun:
    """A sweep's runs (key, input, varied settings, status) and the predicted peaks."""

    out: str
    runs: list[dict[str, Any]]
    peaks: list[SettingPeak] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(run["status"] == status for run in self.runs)


def dry_run(plan: SweepPlan) -> DryRun:
    """The dry run of a planned sweep."""
    done = plan.done()
    before = previous_statuses(plan.results)
    runs = []
    for task in plan.tasks:
        status = "done" if task.key in done else (
            "failed" if before.get(task.key, ("",))[0] == "failed" else "pending")
        runs.append({"key": task.key, "index": task.index, "input": task.input.label,
                     **task.varied, "status": status,
                     "reason": before[task.key][1] if status == "failed" else None})
    return DryRun(out=str(plan.out), runs=runs, peaks=predicted_peaks(plan))


def predicted_peaks(plan: SweepPlan) -> list[SettingPeak]:
    """One entry per distinct memory-relevant setting of the sweep's runs, in first-use order."""
    counts: dict[tuple, int] = {}
    settings: dict[tuple, dict[str, Any]] = {}
    of_config: dict[VideoConfig, dict[str, Any]] = {}
    for task in plan.tasks:
        if task.config not in of_config:  # many runs share a config (inputs, repeats)
            of_config[task.config] = memory_settings(task.config)
        s = of_config[task.config]
        key = tuple(s.items())
        counts[key] = counts.get(key, 0) + 1
        settings.setdefault(key, s)
    return [_peak(settings[key], counts[key]) for key in settings]


def memory_settings(config: VideoConfig) -> dict[str, Any]:
    """What a run's peak memory depends on, as the planner takes it."""
    identity = model_identity(config)
    # a sweep for a GPU may be planned on a machine without one: device="cuda" is planned so
    device = "cuda" if config.device == "cuda" else identity.device
    dtype = config.dtype  # "auto": fp16 on CUDA when use_fp16, else fp32 (as the loader does)
    if dtype == "auto":
        dtype = "fp16" if device == "cuda" and config.use_fp16 else "fp32"
    return {"model": identity.model, "height": config.height, "width": config.width,
            "num_frames": config.num_frames, "dtype": dtype,
            "offload": config.offload if device == "cuda" else "none",
            "decode_chunk_size": config.decode_chunk_size,
            "forward_chunking": config.forward_chunking,
            "max_guidance_scale": config.max_guidance_scale, "device": device}


def _peak(settings: dict[str, Any], runs: int) -> SettingPeak:
    entry = SettingPeak(settings=settings, runs=runs)
    if not is_registered(settings["model"]):
        entry.note = ("the fallback engine: no model in memory" if settings["model"] == "fallback"
                      else "not a registry model: its architecture is unknown to the planner")
        return entry
    plan = plan_memory(**settings)
    entry.peak_bytes, entry.peak_stage = plan["peak_bytes"], plan["peak_stage"]
    entry.budget_bytes, entry.budget_source = device_budget(settings["device"])
    if entry.budget_bytes is not None:
        entry.fits = entry.peak_bytes <= entry.budget_bytes
        if not entry.fits and settings["device"] == "cuda":
            entry.note = _recommendation(settings, entry.budget_bytes)
    return entry


def device_budget(device: str) -> tuple[int | None, str | None]:
    """The memory a run on `device` may use, and where the figure comes from."""
    if os.environ.get("SVLAB_VRAM"):
        return parse_bytes(os.environ["SVLAB_VRAM"]), "SVLAB_VRAM"
    if device == "cuda":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_properties(0).total_memory, "CUDA device memory"
        return None, None
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "host memory"
    except (ValueError, OSError):
        return None, None


def _recommendation(settings: dict[str, Any], budget: int) -> str:
    try:
        rec = recommend(settings["model"], settings["height"], settings["width"],
                        settings["num_frames"], budget, settings["dtype"],
                        max_guidance_scale=settings["max_guidance_scale"], headroom=0.0)
    except ConfigError as e:
        return f"does not fit: {e}"
    o = rec["overrides"]
    return (f"fits with offload={o['offload']}, forward_chunking={o['forward_chunking']}, "
            f"decode_chunk_size={o['decode_chunk_size']}")


def format_dry_run(report: DryRun, varied: list[str], limit: int = 50) -> str:
    """The dry run as text: a line per run (the first `limit`), the counts, the peaks."""
    lines = [f"{len(report.runs)} runs in {report.out}: {report.count('done')} done, "
             f"{report.count('failed')} failed before, {report.count('pending')} to make"]
    for run in report.runs[:limit]:
        shown = " ".join(f"{n}={run[n]}" for n in varied)
        lines.append(f"  {run['key']}  {run['status']:<8} {run['input']}  {shown}")
    if len(report.runs) > limit:
        lines.append(f"  ... and {len(report.runs) - limit} more (--json lists them all)")
    lines.append("predicted peak memory per distinct setting:")
    for p in report.peaks:
        s = p.settings
        what = (f"  {s['model']} {s['width']}x{s['height']} {s['num_frames']} frames {s['dtype']} "
                f"on {s['device']}, offload {s['offload']}, decode chunk "
                f"{s['decode_chunk_size'] or 'all'} ({p.runs} runs): ")
        if p.peak_bytes is None:
            lines.append(what + (p.note or "no prediction"))
            continue
        verdict = ("" if p.fits is None else " fits" if p.fits else " WILL NOT FIT")
        budget = f" of {_gib(p.budget_bytes)} ({p.budget_source})" if p.budget_bytes else ""
        lines.append(what + f"{_gib(p.peak_bytes)} in {p.peak_stage}{budget}{verdict}"
                     + (f"; {p.note}" if p.note else ""))
    return "\n".join(lines)


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
