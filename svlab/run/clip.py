"""One clip from a conditioning image: the model through the recovery ladder, or the fallback
engine when no model can run (and the caller allows it), then interpolated to the output rate.

A run names its model in one of three ways. `model="fallback"` asks for the fallback engine.
`model="auto"` means the configured real model when its weights are here, else the fallback
engine, with the reason in the record (and a warning). An explicitly named model that cannot be
loaded is a `ModelUnavailableError`, unless the caller passes `allow_fallback=True` (the task
API does: every request gets a video). Out-of-memory and NaN failures that the ladder cannot
absorb always end in the fallback engine, with the ladder's steps in the record.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image

from svlab.core.config import VideoConfig
from svlab.core.errors import ModelUnavailableError
from svlab.media.fallback import fallback_frames
from svlab.memory import StageTracker
from svlab.models import VideoModelLoader, choose_model, resolve_device
from svlab.media import write_video
from svlab.media.interpolate import iter_interpolate, output_count, rate_ratio
from svlab.core.records import Clip, ClipRecord
from svlab.run.parallel_run import parallel_run
from svlab.run.recovery import run_with_recovery
from svlab.run.stages import Callback

log = logging.getLogger(__name__)

FALLBACK = "fallback"


def generate_clip(
    image: Image.Image,
    config: VideoConfig,
    *,
    prompt: str | None = None,
    loader: VideoModelLoader | None = None,
    callback: Callback | None = None,
    tracker: StageTracker | None = None,
    allow_fallback: bool = False,
) -> Clip:
    """Frames of one clip at the config's size and fps. `image` must already have the config's
    size; `prompt` goes to the models that take one (and onto a fallback card). With
    `config.gpus` > 1, this process and gpus-1 spawned ones make the clip together
    (svlab.run.parallel_run); `loader` is then not used: a parallel model is loaded for the run."""
    if config.gpus > 1:
        with parallel_run(config, image, prompt) as (parallel_loader, layout):
            clip = _generate_clip(image, config, prompt=prompt, loader=parallel_loader,
                                  callback=callback, tracker=tracker, allow_fallback=False)
        clip.record.parallel = layout
        return clip
    return _generate_clip(image, config, prompt=prompt, loader=loader, callback=callback,
                          tracker=tracker, allow_fallback=allow_fallback)


def _generate_clip(image: Image.Image, config: VideoConfig, *, prompt: str | None,
                   loader: VideoModelLoader | None, callback: Callback | None,
                   tracker: StageTracker | None, allow_fallback: bool) -> Clip:
    tracker = tracker or StageTracker(device_of(config), release_heap=False)
    notify = callback or (lambda event: None)
    record = ClipRecord(engine="model")
    model, reason = model_to_load(config)
    if model is not None:
        try:
            loader = loader or cached_loader(config.replace(model=model))
            notify({"stage": "load"})
            with tracker.stage("load"):
                loader.load()
        except ModelUnavailableError as e:
            if config.model not in ("auto", FALLBACK) and not allow_fallback:
                raise
            model, reason = None, f"model {config.model!r} could not be loaded: {e}"
    if model is not None:
        record.model_info = loader.info
        sound: list = []
        frames, reason = run_with_recovery(loader, image, config, prompt=prompt,
                                           tracker=tracker, callback=callback,
                                           recovery=record.recovery, sound=sound)
        if frames is not None:
            return Clip(frames, record, audio=sound[0] if sound else None)
    log.warning("using the fallback engine: %s", reason)
    record.engine, record.fallback_reason = "fallback", reason
    notify({"stage": "fallback"})
    with tracker.stage("fallback"):
        frames = fallback_frames(width=config.width, height=config.height,
                                 num_frames=config.num_frames, fps=config.fps, seed=config.seed,
                                 text=prompt, image=image)
    return Clip(frames, record)


def interpolate_frames(frames: np.ndarray, config: VideoConfig, tracker: StageTracker,
                       callback: Callback | None = None) -> tuple[np.ndarray, float]:
    """The config's frame interpolation applied to a clip: the frames and their fps. Sends an
    "interpolation" event per output frame to `callback` (which may stop the run)."""
    p = config.processing
    if p.interpolation == "none":
        return frames, float(config.fps)
    if p.target_fps is not None:
        rate = dict(source_fps=config.fps, target_fps=p.target_fps)
        fps = float(p.target_fps)
    else:
        rate = dict(factor=p.interpolation_factor)
        fps = float(config.fps * p.interpolation_factor)
    total = output_count(len(frames), rate_ratio(**rate))
    out = np.empty((total, *frames.shape[1:]), np.uint8)
    with tracker.stage("interpolation"):
        stream = iter_interpolate(frames, method=p.interpolation, **rate)
        for i, frame in enumerate(stream):
            if callback is not None:
                callback({"stage": "interpolation", "step": i + 1, "steps": total})
            out[i] = frame
    return out, fps


def encode_clip(frames: np.ndarray, path: Path, fps: float, config: VideoConfig,
                tracker: StageTracker, callback: Callback | None = None,
                audio=None) -> Path:
    """Encode frames with the config's encoding settings, as the "encoding" stage; sends an
    "encoding" event per frame to `callback` (which may stop the run). `audio` (already as long
    as the frames, `fit_audio`) goes into the MP4 as AAC."""
    p = config.processing
    stream = frames if callback is None else _reporting(frames, callback, "encoding")
    with tracker.stage("encoding"):
        return write_video(stream, path, fps, quality=p.quality, pixel_format=p.pixel_format,
                           lossless=p.lossless, audio=audio)


def _reporting(frames: np.ndarray, callback: Callback, stage: str) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames):
        callback({"stage": stage, "step": i + 1, "steps": len(frames)})
        yield frame


_cache: dict[str, Any] = {}


def cached_loader(config: VideoConfig) -> VideoModelLoader:
    """One loaded model kept between calls (notebooks, the server, sweeps), keyed by what
    loading depends on; a different key unloads the previous model first."""
    key = repr(loading_key(config))
    if _cache.get("key") != key:
        unload_models()
        _cache.update(key=key, loader=VideoModelLoader(config))
    return _cache["loader"]


def loading_key(config: VideoConfig) -> tuple:
    """The settings that decide how a model is loaded: runs that share them share a model."""
    return tuple(getattr(config, n) for n in ("model", "use_fp16", "dtype", "attention",
                                              "offload", "forward_chunking", "compile",
                                              "device"))


def unload_models() -> None:
    """Free the cached model."""
    loader = _cache.pop("loader", None)
    _cache.pop("key", None)
    if loader is not None:
        loader.unload()


def model_to_load(config: VideoConfig) -> tuple[str | None, str | None]:
    """(model to load, None) or (None, why the fallback engine answers instead)."""
    if config.model == FALLBACK:
        return None, "the fallback engine was asked for (model='fallback')"
    if config.model == "auto":
        model, reason = choose_model(config)
        return (None, reason) if model == FALLBACK else (model, None)
    return config.model, None


def device_of(config: VideoConfig) -> str:
    """Where the run's work happens, for measuring it: the model's device, or the CPU when
    the configured device cannot be used (the fallback engine then answers, on the CPU)."""
    try:
        return resolve_device(config.device)
    except ModelUnavailableError:
        return "cpu"
