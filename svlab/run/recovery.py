"""Running a model so that a run survives out-of-memory and half-precision NaNs.

On out-of-memory the ladder applies the next remedy of the model's family (`Family.remedies`,
a plain ordered list of the rungs below) that fits the failing stage, and tries again; decoding
is retried without denoising again. For Stable Video Diffusion:

1. out of memory while decoding: halve the decode chunk size, down to 1;
2. out of memory while denoising: chunk the denoiser's feed-forward layers;
3. then model offload, then sequential offload;
4. then give up: the caller answers with the fallback engine.

For the transformer families (LTX-Video, Wan, CogVideoX): VAE tiling first (the video VAE's
decoding, or encoding of the conditioning video, is the usual peak and tiling costs little
time), then the text encoder moved off the device once its embeddings are made, then model
offload, block-level group offload and sequential offload.

NaN or all-black frames (a VAE overflowing in fp16) are decoded again with the VAE in fp32.
Every step is appended to `recovery` as a `RecoveryStep`, which goes into the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from svlab.core.config import VideoConfig
from svlab.memory import StageTracker
from svlab.models import VideoModelLoader
from svlab.models.placement import set_vae_tiling
from svlab.core.records import RecoveryStep
from svlab.run.stages import Callback, decode, decode_audio, denoise, to_uint8

log = logging.getLogger(__name__)


@dataclass
class Ladder:
    """Where a run stands on the ladder: the loader it reconfigures, the decode chunk size it
    has reached, and the one-off remedies already applied (some are no-ops on some devices,
    offload on a CPU, so the loader's state alone would repeat them forever)."""

    loader: VideoModelLoader
    chunk: int
    config: VideoConfig | None = None  # the run's settings, as remedies change them
    applied: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Rung:
    """A remedy: whether it can help an out-of-memory in `stage` now, and how to apply it
    (returning what it did, for the manifest)."""

    name: str
    helps: Callable[[str, Ladder], bool]
    apply: Callable[[Ladder], str]
    repeatable: bool = False


def _halve_chunk(ladder: Ladder) -> str:
    before, ladder.chunk = ladder.chunk, max(1, ladder.chunk // 2)
    return f"decode_chunk_size {before} -> {ladder.chunk}"


def _forward_chunking(ladder: Ladder) -> str:
    ladder.loader.enable_forward_chunking()
    return f"enable {ladder.loader.family.denoiser} forward chunking"


def _offload(mode: str) -> Callable[[Ladder], str]:
    def apply(ladder: Ladder) -> str:
        ladder.loader.set_offload(mode)
        return f"enable {mode} offload"
    return apply


def _vae_tiling(ladder: Ladder) -> str:
    set_vae_tiling(ladder.loader.pipeline, True)
    ladder.loader.info.vae_tiling = True
    return "enable VAE tiling"


def _free_text_encoder(ladder: Ladder) -> str:
    ladder.config = ladder.config.replace(free_text_encoder=True)
    ladder.loader.info.free_text_encoder = True
    return "move the text encoder off the device after encoding the prompt"


def _offloaded(ladder: Ladder) -> str:
    return ladder.loader.info.offload_requested


RUNGS = {rung.name: rung for rung in (
    Rung("smaller_decode_chunks", lambda stage, l: stage == "decoding" and l.chunk > 1,
         _halve_chunk, repeatable=True),
    Rung("forward_chunking",
         lambda stage, l: stage == "denoising" and not l.loader.info.forward_chunking,
         _forward_chunking),
    Rung("model_offload", lambda stage, l: l.loader.config.offload == "none", _offload("model")),
    Rung("sequential_offload", lambda stage, l: l.loader.config.offload != "sequential",
         _offload("sequential")),
    Rung("vae_tiling", lambda stage, l: not l.loader.pipeline.vae.use_tiling, _vae_tiling),
    Rung("free_text_encoder",
         lambda stage, l: stage == "denoising" and _offloaded(l) == "none"
         and not l.config.free_text_encoder, _free_text_encoder),
    Rung("block_offload", lambda stage, l: _offloaded(l) in ("none", "model"),
         _offload("block")),
)}


def next_remedy(stage: str, ladder: Ladder) -> str | None:
    """Apply the first remedy of the family's ladder that can help `stage` and has not been
    applied yet; what it did, or None when none is left."""
    for name in ladder.loader.family.remedies:
        rung = RUNGS[name]
        if (rung.repeatable or name not in ladder.applied) and rung.helps(stage, ladder):
            ladder.applied.add(name)
            return rung.apply(ladder)
    return None


def run_with_recovery(
    loader: VideoModelLoader,
    image,
    config,
    *,
    prompt: str | None = None,
    tracker: StageTracker,
    callback: Callback | None = None,
    recovery: list[RecoveryStep],
    sound: list | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """(uint8 frames, None) on success, or (None, reason) when every remedy failed. The sound
    track of a family that makes one (an `Audio`, decoded with the frames) is appended to
    `sound` when given."""
    import torch

    pipe, family = loader.pipeline, loader.family
    ladder = Ladder(loader, config.decode_chunk_size or config.num_frames, config)
    latents = None
    while True:
        try:
            if latents is None:
                latents = denoise(pipe, family, image, prompt, ladder.config,
                                  tracker=tracker, callback=callback)
            if callback is not None:
                callback({"stage": "decoding"})
            with tracker.stage("decoding"):
                video = decode(pipe, family, latents, ladder.chunk)[0]
                audio = decode_audio(pipe, family, latents) if sound is not None else None
        except torch.OutOfMemoryError:
            stage = "denoising" if latents is None else "decoding"
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            action = next_remedy(stage, ladder)
            recovery.append(RecoveryStep(stage, "out of memory", action))
            log.warning("out of memory while %s; %s", stage, action or "no remedy left")
            if action is None:
                return None, f"out of memory while {stage}, after every remedy: " + \
                    ", ".join(step.action for step in recovery if step.action)
            continue
        if _is_broken(video):
            problem = "NaN" if np.isnan(video).any() else "all-black"
            if pipe.vae.dtype != torch.float32:
                recovery.append(RecoveryStep("decoding", f"{problem} frames",
                                             "decode again with the VAE in fp32"))
                log.warning("%s frames; decoding again with the VAE in fp32", problem)
                loader.upcast_vae()
                continue
            recovery.append(RecoveryStep("decoding", f"{problem} frames", None))
            return None, f"the model produced {problem} frames even with the VAE in fp32"
        if audio is not None:
            sound.append(audio)
        return to_uint8(video), None


def _is_broken(video: np.ndarray) -> bool:
    return bool(np.isnan(video).any() or video.max() < 1 / 255)
