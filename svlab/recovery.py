"""Running Stable Video Diffusion so that a run survives out-of-memory and fp16 NaNs.

The pipeline is called in two halves: denoising to latents (`output_type="latent"`), then VAE
decoding. Splitting there lets a decoding failure be retried without denoising again, and
gives each stage its own seconds and peak memory. The ladder, in order:

1. out of memory while decoding: halve the decode chunk size, down to 1;
2. out of memory while denoising: chunk the UNet's feed-forward layers;
3. then model offload, then sequential offload;
4. then give up and let the caller use the fallback engine.

NaN or all-black frames (SVD's VAE overflowing in fp16) are decoded again with the VAE in fp32.
Every step is appended to `recovery`, which goes into the manifest.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .memory.measure import encoding_then_denoising

logger = logging.getLogger(__name__)


def run_with_recovery(
    loader,
    image,
    config,
    *,
    tracker,
    callback: Callable[[dict], None] | None = None,
    recovery: list[dict[str, Any]],
) -> tuple[np.ndarray | None, str | None]:
    """(uint8 frames, None) on success, or (None, reason) when every remedy failed."""
    chunk = config.decode_chunk_size or config.num_frames
    latents = None
    tried: set[str] = set()
    while True:
        try:
            if latents is None:
                latents = denoise(loader.pipeline, image, config, tracker=tracker,
                                  callback=callback)
            with tracker.stage("decoding"), torch.no_grad():
                video = loader.decode(latents, decode_chunk_size=chunk)[0]
        except torch.OutOfMemoryError:
            stage = "denoising" if latents is None else "decoding"
            _free_cached_memory()
            action = _next_remedy(stage, chunk, loader, tried)
            recovery.append({"stage": stage, "error": "out of memory", "action": action})
            logger.warning("out of memory while %s; %s", stage, action or "no remedy left")
            if action is None:
                return None, f"out of memory while {stage}, after every remedy: " + \
                    ", ".join(step["action"] for step in recovery if step["action"])
            if action.startswith("decode_chunk_size"):
                chunk = max(1, chunk // 2)
            continue
        if _is_broken(video):
            problem = "NaN" if np.isnan(video).any() else "all-black"
            if loader.pipeline.vae.dtype != torch.float32:
                recovery.append({"stage": "decoding", "error": f"{problem} frames",
                                 "action": "decode again with the VAE in fp32"})
                logger.warning("%s frames; decoding again with the VAE in fp32", problem)
                loader.upcast_vae()
                continue
            recovery.append({"stage": "decoding", "error": f"{problem} frames", "action": None})
            return None, f"the model produced {problem} frames even with the VAE in fp32"
        return to_uint8(video), None


def denoise(pipe, image, config, *, tracker, callback=None) -> torch.Tensor:
    """Latents (1, F, 4, H/8, W/8). Image encoding is timed up to the UNet's first call."""
    steps = config.num_inference_steps
    bar = tqdm(total=steps, desc="denoising", unit="step", leave=False)

    def on_step_end(pipeline, i, t, kwargs):
        bar.update(1)
        if callback is not None:
            callback({"stage": "denoising", "step": i + 1, "steps": steps})
        return {}

    try:
        with encoding_then_denoising(tracker, pipe.unet):
            return pipe(
                image,
                height=config.height,
                width=config.width,
                num_frames=config.num_frames,
                num_inference_steps=steps,
                min_guidance_scale=config.min_guidance_scale,
                max_guidance_scale=config.max_guidance_scale,
                fps=config.fps,
                motion_bucket_id=config.motion_bucket_id,
                noise_aug_strength=config.noise_aug_strength,
                generator=torch.Generator("cpu").manual_seed(config.seed),
                output_type="latent",
                callback_on_step_end=on_step_end,
            ).frames
    finally:
        bar.close()


def to_uint8(video: np.ndarray) -> np.ndarray:
    """The same rounding as diffusers' `numpy_to_pil`, so frames match a direct call."""
    return (video * 255).round().astype(np.uint8)


def _is_broken(video: np.ndarray) -> bool:
    return bool(np.isnan(video).any() or video.max() < 1 / 255)


def _next_remedy(stage: str, chunk: int, loader, tried: set[str]) -> str | None:
    """Apply the next step of the ladder to the loader; describe it, or None when none is left.

    `tried` remembers the steps taken, since some are no-ops on some devices (offload on a CPU)
    and the loader's state alone would then repeat them forever."""
    if stage == "decoding" and chunk > 1:
        return f"decode_chunk_size {chunk} -> {max(1, chunk // 2)}"
    requested = loader.config.offload
    steps = [
        ("forward_chunking", stage == "denoising" and not loader.info.get("forward_chunking"),
         loader.enable_forward_chunking, "enable UNet forward chunking"),
        ("model", requested == "none", lambda: loader.set_offload("model"),
         "enable model offload"),
        ("sequential", requested != "sequential", lambda: loader.set_offload("sequential"),
         "enable sequential offload"),
    ]
    for name, applies, apply, action in steps:
        if applies and name not in tried:
            tried.add(name)
            apply()
            return action
    return None


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
