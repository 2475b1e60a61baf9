"""The one way settings become the config of a run: a profile name, a settings mapping or a
`VideoConfig`, plus a file and overrides, validated against the model that will run it and,
for the `auto` profile, fitted to the GPU by the memory planner.

A registry model's own defaults (`ModelSpec.defaults`: its size, frames, fps, steps and
guidance) lie between the profile and the file: `--model wan2.1-i2v-14b-480p` alone runs at
480x832, 81 frames, while any setting given explicitly still wins."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from svlab.core.config import AUTO_PROFILE, VideoConfig, load_config, read_config_file
from svlab.core.errors import InputError
from svlab.memory import fit_to_vram
from svlab.models import family_of, get_spec
from svlab.models.registry import is_registered


def resolve_config(
    config: VideoConfig | str | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    file: str | Path | None = None,
) -> VideoConfig:
    """A validated config from a VideoConfig, a profile name (`auto` included), a mapping of
    settings (with an optional "profile" key) or None (`standard`), then `file`'s settings,
    then `overrides`. A registry model's own size constraints are checked here, before any
    work starts."""
    overrides = dict(overrides or {})
    if isinstance(config, VideoConfig):
        if file is not None:
            raise InputError("a settings file goes with a profile name, not a VideoConfig")
        resolved = config.replace(**overrides) if overrides else config
    elif config is None or isinstance(config, str):
        resolved = _load(config, file, overrides)
    elif isinstance(config, Mapping):
        settings = dict(config)
        resolved = _load(settings.pop("profile", None), file, {**settings, **overrides})
    else:
        raise InputError(f"config must be a VideoConfig, a profile name or a mapping of "
                         f"settings, got {type(config).__name__}")
    check_model_settings(resolved)
    return resolved


def _load(profile: str | None, file, overrides: dict[str, Any]) -> VideoConfig:
    from_file = read_config_file(file) if file else {}
    file_profile = from_file.pop("profile", None)
    profile = profile or file_profile or "standard"
    settings = {**from_file, **overrides}  # the file's settings, then the overrides
    base = "standard" if profile == AUTO_PROFILE else profile
    model = settings.get("model", load_config(base).model)
    settings = {**model_defaults(model), **settings}
    if profile == AUTO_PROFILE:
        return fit_to_vram(load_config("standard", overrides=settings))
    return load_config(profile, overrides=settings)


def model_defaults(model) -> dict[str, Any]:
    """The settings a registry model runs at unless told otherwise: its size, frame count
    and fps, then its `defaults` (steps, guidance). Empty for Stable Video Diffusion, whose
    reference settings are the profiles', and for anything not in the registry."""
    if not isinstance(model, str) or not is_registered(model):
        return {}
    spec = get_spec(model)
    if not spec.defaults:
        return {}
    return {"height": spec.height, "width": spec.width, "num_frames": spec.num_frames,
            "fps": spec.fps, **spec.defaults}


def frames_bytes(config: VideoConfig) -> int:
    """The host memory a run's frames take at once: the clip as float32 from the decoder,
    as uint8, and after interpolation (the most any stage holds besides the model)."""
    p = config.processing
    frames = config.num_frames
    if p.target_fps is not None:
        out = math.floor((frames - 1) * p.target_fps / config.fps) + 1
    else:
        out = (frames - 1) * p.interpolation_factor + 1
    pixels = config.height * config.width * 3
    return frames * pixels * 4 + (frames + out) * pixels


def check_host_memory(config: VideoConfig) -> None:
    """InputError, before any work, when the run's frames alone would not fit in the memory
    this machine has available (Linux's MemAvailable; not checked elsewhere)."""
    available = _available_bytes()
    need = frames_bytes(config)
    if available is not None and need > available:
        raise InputError(
            f"{config.num_frames} frames of {config.width}x{config.height} (interpolated to "
            f"{config.processing.target_fps or config.fps * config.processing.interpolation_factor:g}"
            f" fps) need about {need / 2**30:.1f} GiB of memory for their frames alone; this "
            f"machine has {available / 2**30:.1f} GiB available; accepted: fewer frames, a "
            "smaller size or a lower output frame rate")


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_model_settings(config: VideoConfig) -> None:
    """ConfigError when a registry model cannot take the config's size or frame count."""
    if is_registered(config.model):
        spec = get_spec(config.model)
        family_of(spec).check(spec, height=config.height, width=config.width,
                              num_frames=config.num_frames, config=config)
