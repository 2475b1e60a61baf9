"""The generation service: an image (or a prompt) in, a video and its manifest out.

`generate_clip` runs one clip through Stable Video Diffusion and keeps it alive through the
recovery ladder; `generate` adds interpolation, encoding and the manifest. A run never ends
without a video unless its input was invalid: when no model can run, the fallback engine
answers, and the manifest says why.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from .config import VideoConfig, load_config
from .errors import InputError, ModelUnavailableError
from .manifest import environment, now_utc, to_json_safe, write_manifest
from .memory import StageTracker
from .recovery import run_with_recovery

logger = logging.getLogger(__name__)

Callback = Callable[[dict], None]


@dataclass
class Clip:
    """Frames of one clip at the config's fps (before interpolation) and how they were made."""

    frames: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class GenerationResult:
    frames: np.ndarray  # uint8 (T, H, W, 3): the frames of the written video
    video_path: Path
    manifest: dict[str, Any]  # the same as the JSON file beside the video


def generate(
    image: Any = None,
    prompt: str | None = None,
    config: VideoConfig | str | dict | None = None,
    out: str | Path | None = None,
    *,
    callback: Callback | None = None,
    loader=None,
    **overrides: Any,
) -> GenerationResult:
    """Generate a video from a conditioning image, or from a prompt (as a storyboard).

    `config` is a VideoConfig, a profile name, or a dict of settings; `overrides` are setting
    names (`num_frames=14`, `seed=3`, ...). `loader` reuses an already loaded model.
    """
    config = make_config(config, overrides)
    if image is None:
        if not prompt or not prompt.strip():
            raise InputError("nothing to generate from: give an image (path, PIL image or "
                             "array) or a non-empty prompt")
        from .story import render_storyboard, storyboard_from_prompt

        board = storyboard_from_prompt(prompt, config)
        return render_storyboard(board, config, output_path(out), loader=loader,
                                 callback=callback)

    keyframe = load_image(image, config.width, config.height)
    out = output_path(out)  # only once the inputs proved good: a bad one creates nothing
    tracker = StageTracker(device_of(config), release_heap=False)
    clip = generate_clip(keyframe, config, prompt=prompt, loader=loader, callback=callback,
                         tracker=tracker)
    inputs = {"image": _describe_image(image), "prompt": prompt}
    return finish(clip, config, out, tracker=tracker, inputs=inputs)


def generate_clip(
    image: Image.Image,
    config: VideoConfig,
    *,
    prompt: str | None = None,
    loader=None,
    callback: Callback | None = None,
    tracker: StageTracker | None = None,
) -> Clip:
    """One clip from a conditioning image: the model through the recovery ladder, or the
    fallback engine when no model can run. `image` must already have the config's size."""
    tracker = tracker or StageTracker(device_of(config), release_heap=False)
    record: dict[str, Any] = {"engine": "model", "model_info": None, "recovery": [],
                              "fallback_reason": None}
    model, reason = model_to_load(config)
    if model is not None:
        try:
            loader = loader or cached_loader(config.replace(model=model))
            with tracker.stage("load"):
                loader.load()
        except ModelUnavailableError as e:
            model, reason = None, f"model {config.model!r} could not be loaded: {e}"
    if model is not None:
        frames, reason = run_with_recovery(loader, image, config, tracker=tracker,
                                           callback=callback, recovery=record["recovery"])
        record["model_info"] = dict(loader.info)
        if frames is not None:
            return Clip(frames, record)
    logger.warning("using the fallback engine: %s", reason)
    record.update(engine="fallback", fallback_reason=reason)
    from .fallback import fallback_frames

    with tracker.stage("fallback"):
        frames = fallback_frames(width=config.width, height=config.height,
                                 num_frames=config.num_frames, fps=config.fps, seed=config.seed,
                                 text=prompt, image=image)
    return Clip(frames, record)


def finish(
    clip: Clip,
    config: VideoConfig,
    out: Path,
    *,
    tracker: StageTracker,
    inputs: dict[str, Any],
) -> GenerationResult:
    """Interpolate, encode and write the manifest beside the video."""
    from .processor import write_video

    frames, fps = interpolate_frames(clip.frames, config, tracker)
    p = config.processing
    with tracker.stage("encoding"):
        write_video(frames, out, fps, quality=p.quality, pixel_format=p.pixel_format,
                    lossless=p.lossless)
    try:
        manifest = build_manifest(config, clip.record, tracker, inputs, out, frames, fps)
        write_manifest(out, manifest)
    except BaseException:  # a video without its manifest is a partial result
        out.unlink(missing_ok=True)
        raise
    return GenerationResult(frames=frames, video_path=out, manifest=manifest)


def interpolate_frames(frames: np.ndarray, config: VideoConfig,
                       tracker: StageTracker) -> tuple[np.ndarray, float]:
    """Apply the config's frame interpolation; returns the frames and their fps."""
    p = config.processing
    if p.interpolation == "none":
        return frames, float(config.fps)
    from .processor.interpolate import interpolate

    with tracker.stage("interpolation"):
        if p.target_fps is not None:
            result = interpolate(frames, method=p.interpolation, source_fps=config.fps,
                                 target_fps=p.target_fps)
            return result, float(p.target_fps)
        result = interpolate(frames, p.interpolation_factor, p.interpolation)
    return result, float(config.fps * p.interpolation_factor)


def build_manifest(config, record, tracker, inputs, out, frames, fps) -> dict[str, Any]:
    """Every setting under its own name, then what happened: engine, model, stages, recovery."""
    height, width = frames.shape[1:3]
    info = record.get("model_info") or {}
    manifest = {
        **config.to_dict(),
        "engine": record["engine"],
        "fallback_reason": record["fallback_reason"],
        "recovery": record["recovery"],
        "model_info": record["model_info"],
        "device": info.get("device", "cpu" if record["engine"] == "fallback" else None),
        "resolved_dtype": info.get("dtype"),
        "attention_backend": info.get("attention"),
        "offload_mode": info.get("offload"),
        "stages": tracker.table(),
        "inputs": inputs,
        "output": {"video": Path(out).name, "frames": int(frames.shape[0]), "fps": fps,
                   "width": int(width), "height": int(height),
                   "duration": round(frames.shape[0] / fps, 3)},
        "created": now_utc(),
        "environment": environment(),
    }
    for key in ("scenes",):
        if key in record:
            manifest[key] = record[key]
    return to_json_safe(manifest)


def make_config(config: VideoConfig | str | dict | None, overrides: dict[str, Any]) -> VideoConfig:
    """A validated config from a VideoConfig, a profile name, a settings dict or None."""
    if isinstance(config, VideoConfig):
        return config.replace(**overrides) if overrides else config
    if config is None or isinstance(config, str):
        return load_config(config or "standard", overrides=overrides)
    if isinstance(config, dict):
        settings = dict(config)
        profile = settings.pop("profile", "standard")
        return load_config(profile, overrides={**settings, **overrides})
    raise InputError(f"config must be a VideoConfig, a profile name or a dict, "
                     f"got {type(config).__name__}")


def output_path(out: str | Path | None) -> Path:
    """The video's path: `out`, or a new file under ./outputs/; its folder is created."""
    from .processor.ffmpeg import prepare_output

    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("outputs") / f"svlab-{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}.mp4"
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise InputError(f"output must be an .mp4 file, got {out}")
    return prepare_output(out)


def load_image(image: Any, width: int, height: int) -> Image.Image:
    """The conditioning image as RGB of exactly (width, height): scaled to cover, then
    centre-cropped, so that it is never distorted."""
    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise InputError(f"image file not found: {path}")
        try:
            with Image.open(path) as f:
                image = f.convert("RGB")
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read image {path}: {e}; accepted: any image format "
                             "Pillow reads (PNG, JPEG, WebP, ...)") from None
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise InputError(f"an image array must be uint8 (H, W, 3 or 4), got "
                             f"{image.dtype} {image.shape}")
        image = Image.fromarray(image).convert("RGB")
    elif isinstance(image, Image.Image):
        image = image.convert("RGB")
    else:
        raise InputError(f"image must be a path, a PIL image or a uint8 array, "
                         f"got {type(image).__name__}")
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


_cache: dict[str, Any] = {}


def cached_loader(config: VideoConfig):
    """One loaded model kept between calls (notebooks, the server), keyed by what loading
    depends on; a different key unloads the previous model first."""
    from .models import VideoModelLoader

    key = repr([getattr(config, n) for n in ("model", "use_fp16", "dtype", "attention",
                                             "offload", "forward_chunking", "compile", "device")])
    if _cache.get("key") != key:
        unload_models()
        _cache.update(key=key, loader=VideoModelLoader(config))
    return _cache["loader"]


def unload_models() -> None:
    """Free the cached model."""
    loader = _cache.pop("loader", None)
    _cache.pop("key", None)
    if loader is not None:
        loader.unload()


def model_to_load(config: VideoConfig) -> tuple[str | None, str | None]:
    """(model to load, None) or (None, why the fallback engine answers instead)."""
    if config.model == "fallback":
        return None, "the fallback engine was asked for (model='fallback')"
    if config.model == "auto":
        from .models import choose_model

        model, reason = choose_model(config)
        return (None, reason) if model == "fallback" else (model, None)
    return config.model, None


def device_of(config: VideoConfig) -> str:
    """Where the run's work happens, for measuring it: the model's device, or the CPU when
    the configured device cannot be used (the fallback engine then answers, on the CPU)."""
    from .models import resolve_device

    try:
        return resolve_device(config.device)
    except ModelUnavailableError:
        return "cpu"


def _describe_image(image: Any) -> str:
    if isinstance(image, (str, Path)):
        return str(image)
    return type(image).__name__
