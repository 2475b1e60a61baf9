"""The fastest setting whose predicted peak fits a memory budget.

Candidates are tried from fastest to slowest, and the first that fits wins. The order (cost
rank) is:

1. offload: "none" < "model" < "sequential". Model offload moves each component to the GPU
   once per call (seconds); sequential offload moves every layer's weights on every step (many
   times slower). This dominates everything else.
2. forward chunking: off < on. Chunking runs the UNet's feed-forward layers in pieces on every
   denoising step.
3. decode chunk size: larger < smaller. The VAE runs once per clip, so smaller chunks cost
   little time, but they also cost temporal smoothness (the temporal decoder only sees the
   frames of its chunk); larger is preferred.

A budget keeps `headroom` (default 10%) free for what the prediction does not count: the CUDA
context, kernel workspaces and the allocator's fragmentation.
"""

from __future__ import annotations

import re
from typing import Any

import dataclasses
import os

from ..errors import ConfigError
from ..models import choose_model
from ..models.registry import is_registered
from .predict import OFFLOAD, combine, gib, meta_model, normalise_settings, trace_steps

DECODE_CHUNKS = (25, 14, 8, 4, 2, 1)
_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """'8GiB', '7.5 GB', '512MiB' -> bytes. A unit is required: a bare number is ambiguous."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ConfigError(f"cannot read memory size {text!r}; accepted: a number with a unit "
                          "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 8GiB or 7.5GB")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ConfigError(f"memory size {text!r} must be positive")
    return value


def candidates(num_frames: int) -> list[dict[str, Any]]:
    """Every setting the planner considers, fastest first (see the module docstring)."""
    chunks = sorted({min(c, num_frames) for c in (num_frames, *DECODE_CHUNKS)}, reverse=True)
    return [
        {"offload": offload, "forward_chunking": chunking, "decode_chunk_size": chunk}
        for offload in OFFLOAD
        for chunking in (False, True)
        for chunk in chunks
    ]


def recommend(
    model: str = "svd-xt",
    height: int | None = None,
    width: int | None = None,
    num_frames: int | None = None,
    vram_bytes: int | str = "8GiB",
    dtype: str = "fp16",
    *,
    max_guidance_scale: float = 3.0,
    headroom: float = 0.1,
) -> dict[str, Any]:
    """The fastest offload / forward chunking / decode chunk size whose predicted peak fits in
    `vram_bytes` minus `headroom`, with the plan, the reasoning and every candidate weighed.

    `result["overrides"]` holds the chosen settings under VideoConfig's field names, ready for
    `config.replace(**overrides)`. Raises ConfigError naming the smallest achievable peak when
    nothing fits.
    """
    vram = parse_bytes(vram_bytes) if isinstance(vram_bytes, str) else int(vram_bytes)
    if vram <= 0:
        raise ConfigError(f"vram_bytes must be positive, got {vram}")
    if not 0 <= headroom < 1:  # NaN fails this too
        raise ConfigError(f"headroom={headroom} is out of range; accepted: from 0 to below 1")
    budget = int(vram * (1 - headroom))
    base = normalise_settings(model, height=height, width=width, num_frames=num_frames,
                              dtype=dtype, offload="none", decode_chunk_size=None,
                              forward_chunking=False, max_guidance_scale=max_guidance_scale,
                              device="cuda")
    meta = meta_model(base.model, base.dtype)
    before_decoding = [s for s in ("load", *meta.family.stages) if s != "decoding"]

    def plan_of(candidate: dict[str, Any]) -> dict[str, Any]:
        settings = dataclasses.replace(base, **candidate)
        return combine(meta, trace_steps(meta, settings), settings)

    considered: list[dict[str, Any]] = []
    denoise_too_big: set[tuple[str, bool]] = set()
    best = None
    for cand in candidates(base.num_frames):
        key = (cand["offload"], cand["forward_chunking"])
        if key in denoise_too_big:  # the decode chunk cannot help the denoiser's peak
            continue
        plan = plan_of(cand)
        fits = plan["peak_bytes"] <= budget
        considered.append(dict(cand, peak_bytes=plan["peak_bytes"], peak_stage=plan["peak_stage"],
                               fits=fits))
        if fits:
            best = (cand, plan)
            break
        if max(plan["stages"][s]["peak_bytes"] for s in before_decoding) > budget:
            denoise_too_big.add(key)
    if best is None:
        # peaks only fall along the order (offload, forward chunking, smaller chunks), so the
        # last candidate is the smallest setting there is
        least = candidates(base.num_frames)[-1]
        plan = plan_of(least)
        smallest = dict(least, peak_bytes=plan["peak_bytes"], peak_stage=plan["peak_stage"])
        raise ConfigError(
            f"nothing fits in {_fmt(vram)} (budget {_fmt(budget)} after {headroom:.0%} "
            f"headroom) for {base.model} at {base.height}x{base.width}, "
            f"{base.num_frames} frames, {base.dtype}: the smallest predicted peak is "
            f"{_fmt(smallest['peak_bytes'])} (offload={smallest['offload']}, forward chunking "
            f"{'on' if smallest['forward_chunking'] else 'off'}, decode chunk "
            f"{smallest['decode_chunk_size']}, peak in {smallest['peak_stage']}); accepted: a "
            f"budget of at least {_fmt(smallest['peak_bytes'] / (1 - headroom))}, or fewer "
            "frames, a smaller size"
        )
    cand, plan = best
    return {
        "vram_bytes": vram,
        "budget_bytes": budget,
        "headroom": headroom,
        "settings": dict(cand, dtype=base.dtype),
        "overrides": {"offload": cand["offload"], "forward_chunking": cand["forward_chunking"],
                      "decode_chunk_size": cand["decode_chunk_size"], "dtype": base.dtype},
        "peak_bytes": plan["peak_bytes"],
        "plan": plan,
        "reasoning": _reasoning(considered, budget),
        "considered": considered,
    }


def recommend_for(config, vram_bytes: int | str | None = None, *, headroom: float = 0.1
                  ) -> dict[str, Any]:
    """`recommend` for a VideoConfig: its model (a registry id), size, frames, guidance and
    dtype ("auto" means fp16, as on CUDA); `vram_bytes` defaults to the total memory of the
    config's CUDA device. For a `--profile auto`: `config.replace(**result["overrides"])`."""
    if vram_bytes is None:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("no CUDA device to size a VRAM budget from; give vram_bytes")
        device = config.device if config.device.startswith("cuda") else "cuda"
        vram_bytes = torch.cuda.get_device_properties(device).total_memory
    dtype = "fp16" if config.dtype == "auto" else config.dtype
    return recommend(config.model, config.height, config.width, config.num_frames, vram_bytes,
                     dtype, max_guidance_scale=config.max_guidance_scale, headroom=headroom)


def fit_to_vram(config):
    """`config` with the fastest offload / forward chunking / decode chunk size whose predicted
    peak fits the VRAM budget: the CUDA card's memory, or SVLAB_VRAM (e.g. "8GiB"). Unchanged
    when there is neither, or when the model is not a registry id (a local folder has no known
    architecture to plan)."""
    budget = os.environ.get("SVLAB_VRAM")
    if not budget:
        import torch

        if not torch.cuda.is_available():
            return config
    model = choose_model(config)[0] if config.model == "auto" else config.model
    if not is_registered(model):
        return config
    fitted = recommend_for(config.replace(model=model), budget or None)
    return config.replace(**fitted["overrides"])


def _reasoning(considered: list[dict[str, Any]], budget: int) -> list[str]:
    lines = []
    for c in considered:
        name = (f"offload={c['offload']}, forward chunking "
                f"{'on' if c['forward_chunking'] else 'off'}, decode chunk "
                f"{c['decode_chunk_size']}")
        if c["fits"]:
            lines.append(f"{name}: peak {_fmt(c['peak_bytes'])} ({c['peak_stage']}) fits in "
                         f"{_fmt(budget)}: the fastest setting that fits")
        else:
            lines.append(f"{name}: peak {_fmt(c['peak_bytes'])} in {c['peak_stage']} "
                         f"exceeds {_fmt(budget)}")
    return lines


def _fmt(n: float) -> str:
    return f"{gib(n):.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
