"""Memory experiments: a generation measured stage by stage on the device at hand, and set
beside the planner's prediction (benchmarks/memory_accuracy.py, notebooks/02_vram_profile).

The run is the same as the service's (`svlab.run.stages` through `VideoModelLoader`), on a
registry model of its real architecture with random weights, so no checkpoint is needed.
"""

from __future__ import annotations

import gc
import statistics
from typing import Any

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError
from svlab.memory import StageTracker, plan_memory
from svlab.memory.measure import pin_mmap_threshold
from svlab.memory.predict import DTYPES, normalise_settings, plan_stages
from svlab.models import VideoModelLoader, build_pipeline, family_of, get_spec
from svlab.core.records import StageStats
from svlab.run.stages import decode, denoise

MMAP_THRESHOLD = 64 << 10  # bytes: larger allocations get mappings of their own


def measure_stages(
    model: str = "tiny",
    *,
    height: int | None = None,
    width: int | None = None,
    num_frames: int | None = None,
    dtype: str = "fp32",
    offload: str = "none",
    decode_chunk_size: int | None = None,
    forward_chunking: bool = False,
    max_guidance_scale: float = 3.0,
    num_inference_steps: int = 2,
    device: str = "cpu",
    seed: int = 0,
) -> dict[str, StageStats]:
    """Measure a generation with a registry model of random weights, stage by stage: the
    figures `plan_memory` predicts, taken on the device at hand.

    "load" builds the pipeline and places it on the device; the family's conditioning stage
    (SVD's "image_encoding", the text-conditioned families' "conditioning": prompt and image
    encoding) runs until the denoiser's first call, "denoising" the rest of the
    pipeline call (to latents), and "decoding" turns the latents into float frames in [0, 1]
    (numpy on the host). On a CPU it first pins glibc's mmap threshold at 64 KiB
    (`pin_mmap_threshold`): the causal video VAEs work a frame or two at a time, on tensors
    under 1 MiB that glibc's heap would otherwise keep resident after they are freed (the tiny
    Wan's decoding read 1.2x its live tensors at a 1 MiB threshold, 1.01x at 64 KiB).
    """
    import torch
    from PIL import Image

    s = normalise_settings(model, height=height, width=width, num_frames=num_frames,
                           dtype=dtype, offload=offload, decode_chunk_size=decode_chunk_size,
                           forward_chunking=forward_chunking,
                           max_guidance_scale=max_guidance_scale, device=device)
    config = VideoConfig(
        model=s.model, height=s.height, width=s.width, num_frames=s.num_frames, dtype=s.dtype,
        offload=s.offload, decode_chunk_size=s.decode_chunk_size,
        forward_chunking=s.forward_chunking, max_guidance_scale=s.max_guidance_scale,
        min_guidance_scale=min(1.0, s.max_guidance_scale),
        num_inference_steps=num_inference_steps, device=device, seed=seed)
    spec = get_spec(s.model)
    if device == "cpu":
        pin_mmap_threshold(MMAP_THRESHOLD)
    gc.collect()  # a previous run's modules sit in reference cycles until collected
    tracker = StageTracker(device)
    with tracker.stage("load"):
        placed = "cpu" if s.offload != "none" else device
        pipe = build_pipeline(spec, dtype=getattr(torch, DTYPES[s.dtype]), device=placed,
                              seed=seed)
        loader = VideoModelLoader.from_pipeline(config, pipe)
    family = family_of(spec)
    image = Image.new("RGB", (s.width, s.height), (120, 90, 60))
    latents = denoise(pipe, family, image, None, config, tracker=tracker)
    with tracker.stage("decoding"):
        video = decode(pipe, family, latents, s.decode_chunk_size)
    del pipe, loader, latents, video
    return tracker.table()


def measured_vs_predicted(
    model: str,
    settings: list[dict],
    *,
    device: str = "cpu",
    dtype: str = "fp32",
    reps: int = 1,
    warmup: bool = True,
    num_inference_steps: int | None = None,
    stages: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """One row per setting and stage: the median measured peak of `reps` runs of
    `measure_stages`, the `plan_memory` prediction, and their ratio (predicted / measured).
    `stages` defaults to the model's own (`plan_stages`, less the host-side "encoding");
    `num_inference_steps` to the fewest the model takes (1; LTX-Video's scheduler needs 2).

    `warmup` runs each setting once first, unmeasured: the first call of a kernel at a shape
    allocates buffers for good (BLAS packing, oneDNN primitives), which a prediction of the
    steady state does not include.
    """
    stages = stages or tuple(s for s in plan_stages(model) if s != "encoding")
    num_inference_steps = num_inference_steps or fewest_steps(model)
    rows = []
    for setting in settings:
        common = dict(setting, dtype=dtype, device=device)
        if warmup:
            measure_stages(model, num_inference_steps=num_inference_steps, **common)
        runs = [measure_stages(model, num_inference_steps=num_inference_steps, **common)
                for _ in range(reps)]
        plan = plan_memory(model, **common)
        for stage in stages:
            measured = statistics.median(r[stage].peak_bytes for r in runs)
            predicted = plan["stages"][stage]["peak_bytes"]
            rows.append({
                **setting, "stage": stage, "measured_bytes": int(measured),
                "measured_runs": [r[stage].peak_bytes for r in runs],
                "predicted_bytes": predicted,
                "ratio": round(predicted / measured, 3) if measured else None,
                "seconds": round(statistics.median(r[stage].seconds for r in runs), 3),
            })
    return rows


def fewest_steps(model: str) -> int:
    """1, or 2 where the model's family refuses a one-step schedule (LTX-Video)."""
    spec = get_spec(model)
    one_step = VideoConfig(model=spec.id, height=spec.height, width=spec.width,
                           num_frames=spec.num_frames, num_inference_steps=1)
    try:
        family_of(spec).check(spec, height=spec.height, width=spec.width,
                              num_frames=spec.num_frames, config=one_step)
    except ConfigError:
        return 2
    return 1
