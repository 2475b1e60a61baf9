"""Predicted peak memory per stage, for any registry model and setting, without a GPU or weights.

How: the model's full-size architecture is built on PyTorch's meta device (parameters have
shapes and dtypes but no storage: the 1.5e9-parameter SVD-XT UNet builds in well under a
second), and each stage of a generation runs on meta inputs of the requested size, the way the
family's diffusers pipeline runs it (`Family.trace`), while `svlab.memory.tracing` counts the
bytes of live tensors. The most alive at once during a step is its activation peak. Weights are
added per offload mode: all of them resident ("none"), only the running component ("model":
diffusers' model CPU offload), its top-level parameters and two of its blocks ("block":
diffusers' block-level group offloading, the next block prefetched on a CUDA stream), two of
its largest layers ("leaf"), or its largest single layer ("sequential": accelerate moves one
module's weights at a time). Layerwise casting is traced on a copy of the denoiser with
diffusers' own fp8 casting applied, so its weights count at their stored size and each layer's
upcast copy as it runs; a freed text encoder counts only while the prompt is encoded; VAE
tiling runs diffusers' own tiled encoder and decoder on the meta tensors.

Memory-wise the kernels traced match CUDA's: attention runs as a flash kernel (output and
log-sum-exp, no L x L matrix). Not counted on CUDA: kernel workspaces (cuDNN, cuBLAS), the CUDA
context and the caching allocator's reserve, which is why a budget keeps some headroom. A CPU
run's kernel scratch is counted (`svlab.memory.tracing.cpu_kernel_scratch`: the column matrix
of PyTorch's native 3D convolutions, 27x the input for the video VAEs' small 3x3x3 kernels).

Speed: repeated stacks of identical blocks are traced three deep (`Family.trace`), and a
video VAE's per-chunk calls are replayed once steady (`svlab.memory.replay`), both exact.
A model's counts and stage traces are kept, in the process and on disk
(`svlab.memory.plan_cache`), so a plan asked again imports neither torch nor diffusers.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import time
from dataclasses import dataclass
from typing import Any

from svlab.core.config import MEMORY_OPTIONS, OFFLOAD, check_plan_settings
from svlab.core.errors import ConfigError, unknown_choice
from svlab.models import Family, ModelSpec, build_modules, family_of, get_spec, list_specs
from svlab.models.build import quiet_libraries
from svlab.core.records import TraceStep
from svlab.memory.counts import ModelCounts, count_modules
from svlab.memory.plan_cache import PlanRecord, load_record, save_record
from svlab.memory.replay import replaying
from svlab.memory.tracing import tracing

DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
DEVICES = ("cuda", "cpu")
GROUP_OFFLOAD = ("block", "leaf")


@dataclass(frozen=True)
class PlanSettings:
    """The settings a memory plan depends on, checked, with the model's defaults filled in."""

    model: str
    height: int
    width: int
    num_frames: int
    dtype: str
    offload: str
    decode_chunk_size: int
    forward_chunking: bool
    max_guidance_scale: float
    device: str
    guidance_scale: float | None = None
    layerwise_casting: bool = False
    vae_tiling: bool = False
    free_text_encoder: bool = False


@dataclass
class MetaModel:
    """One model's architecture in one dtype (and layerwise casting or not), as the planner sees
    it: the counts of its weights and the stage traces made so far, both kept on disk
    (`svlab.memory.plan_cache`) and in the process. The meta-device components themselves
    (`modules`) are built only when a count or a trace is missing."""

    spec: ModelSpec
    family: Family
    dtype_name: str
    layerwise_casting: bool
    counts: ModelCounts
    record: PlanRecord  # its traces are shared by the casting and non-casting models

    @property
    def traces(self) -> dict[tuple, list[TraceStep]]:
        return self.record.traces

    @property
    def modules(self) -> dict[str, Any]:
        return _built(self.spec.family, _architecture(self.spec), self.dtype_name,
                      self.layerwise_casting)

    @property
    def dtype(self):
        return torch_dtype(self.dtype_name)


def plan_stages(model: str) -> tuple[str, ...]:
    """The stages a plan of `model` reports, in order: loading the weights, the family's own
    stages, and encoding the video."""
    return ("load", *family_of(get_spec(model)).stages, "encoding")


def plan_memory(
    model: str = "svd-xt",
    *,
    height: int | None = None,
    width: int | None = None,
    num_frames: int | None = None,
    dtype: str = "fp16",
    offload: str = "none",
    decode_chunk_size: int | None = None,
    forward_chunking: bool = False,
    max_guidance_scale: float = 3.0,
    device: str = "cuda",
    guidance_scale: float | None = None,
    layerwise_casting: bool = False,
    vae_tiling: bool = False,
    free_text_encoder: bool = False,
) -> dict[str, Any]:
    """Predicted peak bytes per stage of generating one clip with `model` (a registry id).

    `height`, `width` and `num_frames` default to the model's own; `decode_chunk_size=None`
    decodes all frames at once, as diffusers does. `device="cpu"` predicts a CPU run (weights
    in host memory, where offload does not apply). `max_guidance_scale` (SVD) and
    `guidance_scale` (the text-conditioned models; None: the model's default) above 1 run the
    denoiser on two inputs. Returns a JSON-ready dict: `{"peak_bytes", "peak_stage", "stages":
    {name: {"peak_bytes", "weights_bytes", "activation_bytes"}}, "params": {component: int},
    "weight_bytes": {...}, "settings", "seconds"}`.
    """
    start = time.perf_counter()
    settings = normalise_settings(
        model, height=height, width=width, num_frames=num_frames, dtype=dtype, offload=offload,
        decode_chunk_size=decode_chunk_size, forward_chunking=forward_chunking,
        max_guidance_scale=max_guidance_scale, device=device, guidance_scale=guidance_scale,
        layerwise_casting=layerwise_casting, vae_tiling=vae_tiling,
        free_text_encoder=free_text_encoder)
    meta = meta_model(settings.model, settings.dtype, settings.layerwise_casting)
    result = combine(meta, trace_steps(meta, settings), settings)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def normalise_settings(model: str, *, height, width, num_frames, dtype, offload,
                       decode_chunk_size, forward_chunking, max_guidance_scale, device,
                       guidance_scale=None, layerwise_casting=False, vae_tiling=False,
                       free_text_encoder=False) -> PlanSettings:
    """Checked settings with the model's defaults filled in; ConfigError names what is wrong."""
    spec = get_spec(model)
    family = family_of(spec)
    height = spec.height if height is None else height
    width = spec.width if width is None else width
    num_frames = spec.num_frames if num_frames is None else num_frames
    check_plan_settings(height=height, width=width, num_frames=num_frames,
                        max_guidance_scale=max_guidance_scale, guidance_scale=guidance_scale)
    family.check(spec, height=height, width=width, num_frames=num_frames)
    if dtype not in DTYPES:
        raise ConfigError(unknown_choice("dtype", dtype, DTYPES))
    if offload not in OFFLOAD:
        raise ConfigError(unknown_choice("offload", offload, OFFLOAD))
    if device not in DEVICES:
        raise ConfigError(unknown_choice("device", device, DEVICES))
    if device == "cpu" and offload != "none":
        raise ConfigError(f"offload={offload!r} moves weights between CPU and GPU memory and has "
                          "no effect on a CPU run; accepted with device='cpu': offload='none'")
    asked = {"forward_chunking": forward_chunking, "layerwise_casting": layerwise_casting,
             "vae_tiling": vae_tiling, "free_text_encoder": free_text_encoder,
             "group_offload": offload in GROUP_OFFLOAD}
    for option, on in asked.items():
        if on and option not in family.options:
            raise ConfigError(f"{option} cannot be used with {spec.id}; accepted: "
                              + ", ".join(o for o in MEMORY_OPTIONS if o in family.options))
    chunk = num_frames if decode_chunk_size is None else decode_chunk_size
    if not isinstance(chunk, int) or chunk < 1:
        raise ConfigError(f"decode_chunk_size={decode_chunk_size} is out of range; "
                          "accepted: >= 1")
    return PlanSettings(
        model=spec.id, height=height, width=width, num_frames=num_frames, dtype=dtype,
        offload=offload, decode_chunk_size=min(chunk, num_frames),
        forward_chunking=bool(forward_chunking), max_guidance_scale=float(max_guidance_scale),
        device=device, guidance_scale=None if guidance_scale is None else float(guidance_scale),
        layerwise_casting=bool(layerwise_casting), vae_tiling=bool(vae_tiling),
        free_text_encoder=bool(free_text_encoder),
    )


def trace_steps(meta: MetaModel, s: PlanSettings) -> list[TraceStep]:
    """The traced steps of every stage of the family for settings `s` (each stage's trace is
    kept and reused for other settings it does not depend on)."""
    steps, traced = [], False
    for stage in meta.family.stages:
        key = (s.device, *meta.family.trace_key(stage, s))  # a CPU run counts kernel scratch
        if key not in meta.traces:
            repeated = [meta.modules[c].get_submodule(path) for c, path in
                        (name.split(".", 1) for name in meta.family.repeated)
                        if c in meta.modules]
            with quiet_libraries(), tracing(meta.modules.values(), s.device,
                                             recast=meta.layerwise_casting) as live, \
                    replaying(repeated, live):
                meta.traces[key] = meta.family.trace(stage, meta.modules, meta.dtype, s, live)
            traced = True
        steps += meta.traces[key]
    if traced:  # one write for the stages traced now
        save_record(meta.record)
    return steps


def combine(meta: MetaModel, steps: list[TraceStep], s: PlanSettings) -> dict[str, Any]:
    """Stage peaks: each step's activations plus the weights the offload mode keeps resident."""
    counts = meta.counts
    components = meta.family.weighted_of(meta.spec)
    all_weights = {c: counts.weight_bytes(c) for c in components}
    text_encoder = meta.family.text_encoder if s.free_text_encoder else None

    def resident(stage: str, component: str | None, weight_dtype: str | None) -> int:
        if s.offload == "none":
            weights = dict(all_weights)
            if component is not None and weight_dtype is not None:
                weights[component] = counts.weight_bytes(component, weight_dtype)
            if text_encoder is not None and stage not in ("load", "conditioning"):
                weights.pop(text_encoder, None)  # moved off once the prompt is encoded
            return sum(weights.values())
        if component is None:
            return 0
        if s.offload == "model":
            return counts.weight_bytes(component, weight_dtype)
        if s.offload == "block":
            return counts.scaled(counts.block_group[component], weight_dtype)
        layer = counts.scaled(counts.largest_layer[component], weight_dtype)
        return 2 * layer if s.offload == "leaf" else layer  # leaf: the next one prefetched

    stages: dict[str, dict[str, int]] = {}

    def add(stage: str, weights: int, activations: int) -> None:
        row = stages.setdefault(stage, {"peak_bytes": 0, "weights_bytes": 0,
                                        "activation_bytes": 0})
        if weights + activations >= row["peak_bytes"]:
            row.update(peak_bytes=weights + activations, weights_bytes=weights,
                       activation_bytes=activations)

    add("load", resident("load", None, None) if s.offload == "none" else 0, 0)
    for step in steps:
        add(step.stage, resident(step.stage, step.component, step.weight_dtype),
            step.activation_bytes)
    # Encoding the video runs on the host: the device keeps its resident weights only; a CPU
    # run also holds the uint8 frames handed to ffmpeg.
    frame_bytes = s.num_frames * s.height * s.width * 3
    kept = resident("encoding", None, None) if s.offload == "none" else 0
    add("encoding", kept, frame_bytes if s.device == "cpu" else 0)
    peak_stage = max(stages, key=lambda n: stages[n]["peak_bytes"])
    return {
        "model": s.model,
        "peak_bytes": stages[peak_stage]["peak_bytes"],
        "peak_stage": peak_stage,
        "stages": {name: stages[name] for name in plan_stages(s.model)},
        "params": dict(counts.params),
        "weight_bytes": all_weights,
        "settings": dataclasses.asdict(s),
    }


def meta_model(model: str, dtype_name: str, layerwise_casting: bool = False) -> MetaModel:
    """What the planner knows of `model`'s full-size architecture in `dtype_name`: its counts
    and traces, read from the plan cache when kept there, counted from its meta-device
    components otherwise. Models of one architecture (SVD-XT and SVD-XT 1.1) share them."""
    spec = get_spec(model)
    family = family_of(spec)
    record = _record(spec.family, _architecture(spec), dtype_name)
    counts = record.counts.get(layerwise_casting)
    if counts is None:
        modules = _built(spec.family, _architecture(spec), dtype_name, layerwise_casting)
        counts = count_modules(family.weighted_of(spec), modules, torch_dtype(dtype_name))
        record.counts[layerwise_casting] = counts
        save_record(record)
    return MetaModel(spec=spec, family=family, dtype_name=dtype_name,
                     layerwise_casting=layerwise_casting, counts=counts, record=record)


def _architecture(spec: ModelSpec) -> str:
    return json.dumps(spec.components, sort_keys=True, default=str)


@functools.lru_cache(maxsize=16)
def _record(family_name: str, architecture: str, dtype_name: str) -> PlanRecord:
    """The process's record of an architecture and dtype, first read from the plan cache."""
    return load_record(family_name, architecture, dtype_name)


@functools.lru_cache(maxsize=8)
def _built(family_name: str, architecture: str, dtype_name: str,
           layerwise_casting: bool) -> dict[str, Any]:
    """Full-size components on the meta device: parameters with shapes and dtypes but no
    storage, initialisers skipped, every operator on them running its shape function only.
    With `layerwise_casting`, the denoisers are copies with diffusers' fp8 layerwise casting."""
    import torch

    spec = next(s for s in list_specs()
                if s.family == family_name and _architecture(s) == architecture)
    family = family_of(spec)
    dtype = torch_dtype(dtype_name)
    if layerwise_casting:
        modules = dict(_built(family_name, architecture, dtype_name, False))
        for name in family.weighted_of(spec):
            if name == family.denoiser or name == "transformer_2":
                modules[name] = copy.deepcopy(modules[name])
                modules[name].enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                                       compute_dtype=dtype)
        return modules
    modules = build_modules(spec, dtype=dtype, device="meta", seed=None)
    if dtype == torch.float16 and spec.components.get("vae", {}).get("force_upcast", False):
        # the pipeline casts the VAE to float32 to encode the conditioning image
        modules["vae_fp32"] = build_modules(spec, dtype=torch.float32, device="meta",
                                            seed=None)["vae"]
    # a few parameters are made with the legacy torch.Tensor([...]) constructor, which
    # ignores the default device: move those (one-element mix factors) to meta too
    return {name: module.to("meta") for name, module in modules.items()}


def torch_dtype(dtype_name: str):
    import torch

    return getattr(torch, DTYPES[dtype_name])


def gib(n: int | float) -> float:
    return n / 2**30
