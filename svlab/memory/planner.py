"""The fastest setting whose predicted peak fits a memory budget.

Candidates are tried from fastest to slowest, and the first that fits wins. Each option a
model's family takes has a cost, a rough share of a generation's time it adds, and a
candidate's cost is their sum (ties: fewer options first, the larger decode chunk first):

- freeing the text encoder after the prompt: 0 (the weights move off once; a new prompt moves
  them back);
- VAE tiling: 1 (the VAE runs once per clip; tiles overlap a little);
- decode chunk size, SVD: 0.1 per halving (little time, but the temporal decoder sees only the
  frames of its chunk);
- forward chunking, SVD: 2 (the feed-forward layers in pieces on every step);
- offload "model": 3 (each component moved to the GPU once per call);
- layerwise casting: 4 (every layer cast from fp8 on every step, and fp8 storage loses
  precision: after the lossless model offload);
- offload "block": 5 (every block moved on every step, overlapped with compute on a stream);
- offload "leaf": 8; offload "sequential": 50 (every layer moved on every step, not overlapped).

A budget keeps `headroom` (default 10%) free for what the prediction does not count: the CUDA
context, kernel workspaces and the allocator's fragmentation.
"""

from __future__ import annotations

import re
from typing import Any

import dataclasses
import os

from svlab.core.errors import ConfigError
from svlab.models import choose_model, family_of, get_spec
from svlab.models.registry import is_registered
from svlab.memory.predict import OFFLOAD, combine, gib, meta_model, normalise_settings, trace_steps

DECODE_CHUNKS = (25, 14, 8, 4, 2, 1)
OFFLOAD_COST = {"none": 0, "model": 3, "block": 5, "leaf": 8, "sequential": 50}
OPTION_COST = {"free_text_encoder": 0, "vae_tiling": 1, "forward_chunking": 2,
               "layerwise_casting": 4}
SWITCHES = ("free_text_encoder", "vae_tiling", "forward_chunking", "layerwise_casting")
MAX_MEMORY_BYTES = 2**60  # 1 EiB: more than any device has
_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """'8GiB', '7.5 GB', '512MiB' -> bytes. A unit is required: a bare number is ambiguous."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ConfigError(f"cannot read memory size {str(text)[:40]!r}; accepted: a number with a unit "
                          "(B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 8GiB or 7.5GB")
    number = float(match.group(1)) * _UNITS[unit]
    if not number < MAX_MEMORY_BYTES:  # a 400-digit size is inf as a float
        raise ConfigError(f"memory size {str(text)[:40]!r}{'…' if len(str(text)) > 40 else ''} "
                          f"is too large; accepted: less than {MAX_MEMORY_BYTES // 2**60} EiB")
    value = int(number)
    if value <= 0:
        raise ConfigError(f"memory size {text!r} must be positive")
    return value


def candidates(num_frames: int, options=frozenset({"forward_chunking", "decode_chunks"})
               ) -> list[dict[str, Any]]:
    """Every setting the planner considers for a family taking `options`, fastest first (see
    the module docstring)."""
    import itertools
    import math

    chunks = [num_frames]
    if "decode_chunks" in options:
        chunks = sorted({min(c, num_frames) for c in (num_frames, *DECODE_CHUNKS)},
                        reverse=True)
    offloads = [o for o in OFFLOAD if o in ("none", "model", "sequential")
                or "group_offload" in options]
    switches = [s for s in SWITCHES if s in options]
    found = []
    for offload, chunk, *on in itertools.product(offloads, chunks,
                                                 *[(False, True)] * len(switches)):
        cand = {"offload": offload, "decode_chunk_size": chunk, **dict(zip(switches, on))}
        cost = (OFFLOAD_COST[offload] + sum(OPTION_COST[s] for s, v in zip(switches, on) if v)
                + 0.1 * math.log2(num_frames / chunk))
        found.append((round(cost, 3), sum(on), -chunk, cand))
    found.sort(key=lambda item: item[:3])
    return [cand for *_, cand in found]


def recommend(
    model: str = "svd-xt",
    height: int | None = None,
    width: int | None = None,
    num_frames: int | None = None,
    vram_bytes: int | str = "8GiB",
    dtype: str | None = None,
    *,
    max_guidance_scale: float = 3.0,
    guidance_scale: float | None = None,
    headroom: float = 0.1,
) -> dict[str, Any]:
    """The fastest memory setting (offload, and the options the model's family takes: decode
    chunks, forward chunking, VAE tiling, layerwise casting, freeing the text encoder) whose
    predicted peak fits in `vram_bytes` minus `headroom`, with the plan, the reasoning and
    every candidate weighed. `dtype` defaults to the model's half precision.

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
    dtype = dtype or get_spec(model).dtype
    base = normalise_settings(model, height=height, width=width, num_frames=num_frames,
                              dtype=dtype, offload="none", decode_chunk_size=None,
                              forward_chunking=False, max_guidance_scale=max_guidance_scale,
                              device="cuda", guidance_scale=guidance_scale)
    family = family_of(get_spec(base.model))
    before_decoding = [s for s in ("load", *family.stages) if s != "decoding"]

    def plan_of(candidate: dict[str, Any]) -> dict[str, Any]:
        settings = dataclasses.replace(base, **candidate)
        meta = meta_model(base.model, base.dtype, settings.layerwise_casting)
        return combine(meta, trace_steps(meta, settings), settings)

    considered: list[dict[str, Any]] = []
    decoding_cannot_help: set[tuple] = set()
    best = None
    ordered = candidates(base.num_frames, family.options)
    for cand in ordered:
        key = tuple(sorted((k, v) for k, v in cand.items() if k != "decode_chunk_size"))
        if key in decoding_cannot_help:  # the decode chunk cannot help the earlier peaks
            continue
        plan = plan_of(cand)
        fits = plan["peak_bytes"] <= budget
        considered.append(dict(cand, peak_bytes=plan["peak_bytes"], peak_stage=plan["peak_stage"],
                               fits=fits))
        if fits:
            best = (cand, plan)
            break
        if max(plan["stages"][s]["peak_bytes"] for s in before_decoding) > budget:
            decoding_cannot_help.add(key)
    if best is None:
        least = _least_memory(ordered)
        plan = plan_of(least)
        raise ConfigError(
            f"nothing fits in {_fmt(vram)} (budget {_fmt(budget)} after {headroom:.0%} "
            f"headroom) for {base.model} at {base.height}x{base.width}, "
            f"{base.num_frames} frames, {base.dtype}: the smallest predicted peak is "
            f"{_fmt(plan['peak_bytes'])} ({_describe(least)}, peak in {plan['peak_stage']}); "
            f"accepted: a budget of at least {_fmt(plan['peak_bytes'] / (1 - headroom))}, or "
            "fewer frames, a smaller size"
        )
    cand, plan = best
    return {
        "vram_bytes": vram,
        "budget_bytes": budget,
        "headroom": headroom,
        "settings": dict(cand, dtype=base.dtype),
        "overrides": dict(cand, dtype=base.dtype),
        "peak_bytes": plan["peak_bytes"],
        "plan": plan,
        "reasoning": _reasoning(considered, budget),
        "considered": considered,
    }


def _least_memory(ordered: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with every memory option on, the least-memory offload and the smallest
    decode chunk: the smallest peak there is (peaks only fall as options are added)."""
    return max(ordered, key=lambda c: (OFFLOAD.index(c["offload"]),
                                       sum(bool(c.get(s)) for s in SWITCHES),
                                       -c["decode_chunk_size"]))


def _describe(c: dict[str, Any]) -> str:
    on = [s.replace("_", " ") for s in SWITCHES if c.get(s)]
    return (f"offload={c['offload']}, decode chunk {c['decode_chunk_size']}"
            + (", " + ", ".join(on) if on else ""))


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
    dtype = None if config.dtype == "auto" else config.dtype  # auto: the model's half dtype
    return recommend(config.model, config.height, config.width, config.num_frames, vram_bytes,
                     dtype, max_guidance_scale=config.max_guidance_scale,
                     guidance_scale=config.guidance_scale, headroom=headroom)


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
        name = _describe(c)
        if c["fits"]:
            lines.append(f"{name}: peak {_fmt(c['peak_bytes'])} ({c['peak_stage']}) fits in "
                         f"{_fmt(budget)}: the fastest setting that fits")
        else:
            lines.append(f"{name}: peak {_fmt(c['peak_bytes'])} in {c['peak_stage']} "
                         f"exceeds {_fmt(budget)}")
    return lines


def _fmt(n: float) -> str:
    return f"{gib(n):.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"
