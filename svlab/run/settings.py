"""The one way settings become the config of a run: `load_config` (also `svlab.load_config`),
used by the notebooks, the panel, the command line, the task API, sweeps, storyboards and
reruns alike.

Precedence, lowest first, written here once (docs/configuration.md says the same):

    1. the profile's settings (`standard` when none is named; `auto` is `standard` fitted
       to the GPU by the memory planner, after everything below is applied)
    2. the model's own defaults (`ModelSpec`: its size, frames and fps, and its `defaults`:
       steps, guidance, precision), for the model the settings below or the profile name
    3. the settings file (`file=`, `--config`; it may name its own profile)
    4. explicit settings (`overrides`, keyword arguments, command-line flags, a sweep's or
       a task's settings)

So `--model wan2.1-i2v-14b-480p` alone runs at 480x832, 81 frames, and `model: tiny` in a
sweep at tiny's 64x64, while any setting given explicitly still wins. The result is checked
against the model that will run it before any work starts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from svlab.core.config import AUTO_PROFILE, VideoConfig, profile_settings, read_config_file
from svlab.core.errors import ConfigError, InputError
from svlab.memory import fit_to_vram
from svlab.models import family_of, get_spec
from svlab.models.caching import check_cache
from svlab.models.parallel_plan import check_context_parallel
from svlab.models.registry import is_registered

DEFAULT_PROFILE = "standard"


def load_config(
    profile: VideoConfig | str | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    file: str | Path | None = None,
) -> VideoConfig:
    """The validated config of a run. `profile`: a profile name (`auto` included), None (the
    file's profile, else `standard`), a mapping of settings with an optional "profile" key,
    or a `VideoConfig` (then only `overrides` apply to it); then `file`'s settings, then
    `overrides`, with the model's own defaults under both (see the module's docstring)."""
    overrides = dict(overrides or {})
    if isinstance(profile, VideoConfig):
        if file is not None:
            raise InputError("a settings file goes with a profile name, not a VideoConfig")
        resolved = profile.replace(**overrides) if overrides else profile
    elif profile is None or isinstance(profile, str):
        resolved = _build(profile, file, overrides)
    elif isinstance(profile, Mapping):
        settings = dict(profile)
        resolved = _build(settings.pop("profile", None), file, {**settings, **overrides})
    else:
        raise InputError(f"config must be a VideoConfig, a profile name or a mapping of "
                         f"settings, got {type(profile).__name__}")
    check_model_settings(resolved)
    return resolved


def _build(profile: str | None, file, overrides: dict[str, Any]) -> VideoConfig:
    from_file = read_config_file(file) if file else {}
    file_profile = from_file.pop("profile", None)
    name = profile or file_profile or DEFAULT_PROFILE
    base = profile_settings(DEFAULT_PROFILE if name == AUTO_PROFILE else name)
    settings = {**from_file, **overrides}  # the file's settings, then the explicit ones
    model = settings.get("model", base.get("model", VideoConfig.model))
    config = VideoConfig().replace(**{**base, **model_defaults(model), **settings})
    return fit_to_vram(config) if name == AUTO_PROFILE else config


def model_defaults(model) -> dict[str, Any]:
    """The settings a registry model runs at unless told otherwise: its size, frame count
    and fps, then its `defaults` (steps, guidance, precision). Empty for the published Stable
    Video Diffusion checkpoints, whose reference settings are the profiles' (`standard` is
    SVD's own; `low-vram` cuts it down), and for anything not in the registry."""
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
    """ConfigError when a registry model cannot take the config's size, frame count or step
    caching method, or cannot be split over its `gpus` processes."""
    if is_registered(config.model):
        spec = get_spec(config.model)
        family = family_of(spec)
        family.check(spec, height=config.height, width=config.width,
                     num_frames=config.num_frames, config=config)
        check_cache(family, config.cache)
        check_context_parallel(spec, config.gpus, height=config.height, width=config.width,
                               num_frames=config.num_frames)
    elif config.gpus > 1:
        raise ConfigError(f"gpus={config.gpus} needs a registry model to split; "
                          f"{config.model!r} is not one; accepted: gpus=1")
