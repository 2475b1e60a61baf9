"""Generation and processing settings: typed, validated once, and named profiles.

A config is made once and is valid from then on: every later stage can trust it. The one way
to make one from a profile, a file and settings is `svlab.load_config` (svlab.run.settings),
which also knows each model's own defaults; precedence, lowest first:

    profile  <  the model's own defaults  <  config file  <  explicit settings

Field names are flat and unique across `VideoConfig` and `ProcessingConfig`, so one override
name (`num_frames=14`, `codec="libx264"`) always means one thing, in Python, in YAML, on the
command line and in the manifest.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from svlab.core.errors import ConfigError, did_you_mean, unknown_choice
from svlab.core.bounded import load_structured

DTYPES = ("auto", "fp16", "bf16", "fp32")
ATTENTION = ("auto", "sdpa", "xformers")
# Where weights live while a model runs, from fastest to least memory: all on the device;
# one whole model at a time (model CPU offload); groups of blocks, or single layers, moved in
# as they run (diffusers' group offloading, with CUDA streams); every submodule on every call
# (sequential CPU offload).
OFFLOAD = ("none", "model", "block", "leaf", "sequential")
# Memory options a model family may take (`Family.options`); the loader applies them and the
# memory planner weighs them (svlab.memory.planner).
MEMORY_OPTIONS = ("forward_chunking", "decode_chunks", "layerwise_casting", "vae_tiling",
                  "vae_slicing", "free_text_encoder", "group_offload")
DEVICES = ("auto", "cpu", "cuda")
CODECS = ("libx264",)
PIXEL_FORMATS = ("yuv420p", "yuv444p")
INTERPOLATION_METHODS = ("none", "repeat", "blend", "minterpolate", "flow", "rife")
# Step caching: reuse a denoiser's work between neighbouring steps (diffusers' cache hooks,
# svlab.models.caching). Each method has one parameter, the `cache_threshold` setting:
# (what it sets in diffusers, lowest, highest, default, whole number?). Which family takes
# which method is the family's business (`Family.cache_methods`).
CACHE_METHODS: dict[str, tuple[str, float, float, float, bool]] = {
    "first_block": ("threshold", 0.001, 1.0, 0.05, False),  # skip the rest when block 0 barely changed
    "taylorseer": ("cache_interval", 2, 50, 5, True),  # compute every Nth step, extrapolate between
    "pyramid_attention": ("spatial_attention_block_skip_range", 2, 50, 2, True),  # reuse attention
}
AUTO_PROFILE = "auto"  # not in PROFILES: `standard` fitted to the device by svlab.load_config

# Upper bounds on the work one config may ask for, checked before any work starts. They are
# far above what any model here was trained for (SVD: 25 frames at 1024x576, 25 steps), so
# they refuse only mistakes and abuse; a server can set tighter limits of its own.
MAX_FRAMES = 1024
MAX_STEPS = 1000
MAX_SIDE = 4096  # pixels, each of height and width
MAX_FPS = 240
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes up to 2**64 - 1
MAX_GUIDANCE = 100.0
MAX_PROMPT = 10_000  # characters of a negative prompt
MAX_GPUS = 64  # processes that make one video together (one node's GPUs)


@dataclass(frozen=True)
class ProcessingConfig:
    """How frames become a video file: encoding and frame interpolation."""

    codec: str = "libx264"
    quality: int = 18  # x264 CRF: 0 is lossless, 18 visually lossless, 51 worst
    pixel_format: str = "yuv420p"  # yuv420p plays everywhere; yuv444p keeps full chroma
    lossless: bool = False  # research comparisons: x264 lossless (qp 0, yuv444p)
    interpolation: str = "none"
    interpolation_factor: int = 1
    target_fps: float | None = None  # instead of a factor: resample in time to this rate

    def __post_init__(self):
        _check_types(self)
        _check_choice("codec", self.codec, CODECS)
        _check_choice("pixel_format", self.pixel_format, PIXEL_FORMATS)
        _check_choice("interpolation", self.interpolation, INTERPOLATION_METHODS)
        _check_range("quality", self.quality, 0, 51)
        _check_range("interpolation_factor", self.interpolation_factor, 1, 16)
        if self.target_fps is not None:
            _check_range("target_fps", self.target_fps, 0.0, MAX_FPS, low_open=True)
        if self.interpolation_factor > 1 and self.target_fps is not None:
            raise ConfigError("give interpolation_factor or target_fps, not both")
        if self.interpolation == "none" and (self.interpolation_factor > 1 or self.target_fps):
            raise ConfigError(
                "interpolation_factor/target_fps need an interpolation method; accepted: "
                + ", ".join(m for m in INTERPOLATION_METHODS if m != "none")
            )


@dataclass(frozen=True)
class VideoConfig:
    """What to generate and how to run the model. Defaults are the `standard` profile, the
    reference configuration of the system svlab comes from."""

    model: str = "auto"
    use_fp16: bool = True  # the reference switch: half precision wherever the device allows
    num_inference_steps: int = 25
    height: int = 576
    width: int = 1024
    num_frames: int = 25
    fps: int = 6
    seed: int = 42
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    decode_chunk_size: int | None = None  # None decodes all frames at once
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0
    # text-conditioned models (LTX-Video, Wan, CogVideoX); None: the model's own default
    guidance_scale: float | None = None
    guidance_scale_2: float | None = None  # Wan2.2 A14B's low-noise expert
    negative_prompt: str | None = None
    dtype: str = "auto"  # auto: the model's half precision on CUDA when use_fp16, else fp32
    attention: str = "auto"  # auto: xFormers when installed and on CUDA, else PyTorch SDPA
    offload: str = "none"
    forward_chunking: bool = False
    layerwise_casting: bool = False  # denoiser weights stored in fp8, computed in `dtype`
    vae_tiling: bool = False  # decode (and encode) the video in overlapping tiles
    vae_slicing: bool = False  # one video of a batch through the VAE at a time
    free_text_encoder: bool = False  # encode the prompt once, then move the encoder off
    compile: bool = False
    cache: str | None = None  # a step-caching method of CACHE_METHODS; None: every step computed
    cache_threshold: float | None = None  # the method's parameter; None: its default
    device: str = "auto"
    # processes (one per GPU; gloo on a CPU) that make one video with context parallelism
    gpus: int = 1
    processing: ProcessingConfig = field(default_factory=ProcessingConfig)

    def __post_init__(self):
        _check_types(self)
        _check_range("num_inference_steps", self.num_inference_steps, 1, MAX_STEPS)
        check_plan_settings(height=self.height, width=self.width, num_frames=self.num_frames,
                            max_guidance_scale=self.max_guidance_scale,
                            guidance_scale=self.guidance_scale)
        _check_range("fps", self.fps, 1, MAX_FPS)
        for name in ("height", "width"):
            value = getattr(self, name)
            if value % 8:
                raise ConfigError(
                    f"{name}={value} cannot be taken by the model: the VAE needs a positive "
                    f"multiple of 8 (nearest: {max(8, round(value / 8) * 8)})"
                )
        _check_range("seed", self.seed, 0, MAX_SEED)
        _check_range("motion_bucket_id", self.motion_bucket_id, 0, 1023)
        _check_range("noise_aug_strength", self.noise_aug_strength, 0.0, 10.0)
        _check_range("min_guidance_scale", self.min_guidance_scale, 0.0, MAX_GUIDANCE)
        if self.min_guidance_scale > self.max_guidance_scale:
            raise ConfigError(
                f"min_guidance_scale ({self.min_guidance_scale}) must not exceed "
                f"max_guidance_scale ({self.max_guidance_scale})"
            )
        if self.guidance_scale_2 is not None:
            _check_range("guidance_scale_2", self.guidance_scale_2, 0.0, MAX_GUIDANCE)
        if self.negative_prompt is not None and len(self.negative_prompt) > MAX_PROMPT:
            raise ConfigError(f"negative_prompt has {len(self.negative_prompt)} characters; "
                              f"accepted: up to {MAX_PROMPT}")
        if self.decode_chunk_size is not None:
            _check_range("decode_chunk_size", self.decode_chunk_size, 1, MAX_FRAMES)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("attention", self.attention, ATTENTION)
        _check_choice("offload", self.offload, OFFLOAD)
        _check_choice("device", self.device, DEVICES)
        _check_cache(self.cache, self.cache_threshold)
        _check_range("gpus", self.gpus, 1, MAX_GPUS)

    def replace(self, **overrides: Any) -> "VideoConfig":
        """A new, validated config with these fields changed (processing fields included)."""
        return _apply(self, overrides)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of every setting, as the manifest records them."""
        flat = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "processing"}
        flat.update(dataclasses.asdict(self.processing))
        return flat


PROFILES: dict[str, dict[str, Any]] = {
    # The reference system's standard configuration.
    "standard": {},
    # The reference system's low-VRAM configuration, plus model offload and chunked decoding.
    "low-vram": dict(
        num_inference_steps=15, height=512, width=512, num_frames=15, fps=6,
        offload="model", decode_chunk_size=2, forward_chunking=True,
    ),
    # A few seconds on a 2-core CPU with the tiny random-weight model: tests and demos.
    "cpu-tiny": dict(
        model="tiny", use_fp16=False, num_inference_steps=4, height=64, width=64,
        num_frames=8, fps=6, device="cpu",
    ),
}


def profile_names() -> list[str]:
    """Every profile a user may name: PROFILES and `auto` (`standard` fitted to the GPU by the
    memory planner; see `svlab.load_config`)."""
    return [*PROFILES, AUTO_PROFILE]


def setting_names() -> list[str]:
    """Every name an override may use."""
    video = [f.name for f in fields(VideoConfig) if f.name != "processing"]
    return video + [f.name for f in fields(ProcessingConfig)]


def profile_settings(name: str) -> dict[str, Any]:
    """The settings the profile `name` sets (a copy). `auto` is not a table but `standard`
    fitted to the device, which is the run layer's business (`svlab.load_config`)."""
    if name not in PROFILES:
        raise ConfigError(unknown_choice("profile", name, profile_names()))
    return dict(PROFILES[name])


def read_config_file(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Settings from a .yaml/.yml/.json file (a mapping of setting names to values), read with
    bounded work (`svlab.bounded`: size cap, no YAML aliases, nesting cap)."""
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"{what} {path} must end in .yaml, .yml or .json")
    data = load_structured(path, what, error=ConfigError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping of setting names to values")
    return data


def _apply(config: VideoConfig, overrides: Mapping[str, Any]) -> VideoConfig:
    video_names = {f.name for f in fields(VideoConfig)} - {"processing"}
    processing_names = {f.name for f in fields(ProcessingConfig)}
    video, processing = {}, {}
    for key, value in overrides.items():
        if key in video_names:
            video[key] = value
        elif key in processing_names:
            processing[key] = value
        else:
            raise ConfigError(
                f"unknown setting {key!r}{did_you_mean(key, setting_names())}; "
                f"accepted: {', '.join(setting_names())}"
            )
    if processing:
        video["processing"] = dataclasses.replace(config.processing, **processing)
    return dataclasses.replace(config, **video) if video else config


def _check_types(obj) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value = getattr(obj, f.name)
        expected = hints[f.name]
        if not _matches(value, expected):
            raise ConfigError(
                f"{f.name} must be {_type_name(expected)}, got {type(value).__name__} {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} must be a finite number, got {value!r}")
        # ints are accepted where floats are expected; store them as floats
        if isinstance(value, int) and not isinstance(value, bool) and float in _args(expected):
            object.__setattr__(obj, f.name, float(value))


def _args(tp) -> tuple:
    return typing.get_args(tp) or (tp,)


def _matches(value, tp) -> bool:
    for t in _args(tp):
        if t is type(None) and value is None:
            return True
        if t is bool:
            if isinstance(value, bool):
                return True
        elif t is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif t is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
        elif isinstance(t, type) and isinstance(value, t):
            return True
    return False


def _type_name(tp) -> str:
    names = ["None" if t is type(None) else t.__name__ for t in _args(tp)]
    return " or ".join(names)


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise ConfigError(unknown_choice(name, value, choices))


def _check_cache(method: str | None, threshold: float | None) -> None:
    if method is None:
        if threshold is not None:
            raise ConfigError(f"cache_threshold={threshold} needs a cache method; accepted: "
                              + ", ".join(CACHE_METHODS))
        return
    _check_choice("cache", method, CACHE_METHODS)
    if threshold is None:
        return
    parameter, low, high, _, whole = CACHE_METHODS[method]
    _check_range(f"cache_threshold ({method}'s {parameter})", threshold, low, high)
    if whole and threshold != int(threshold):
        raise ConfigError(f"cache_threshold={threshold} is {method}'s {parameter}, a whole "
                          f"number; accepted: {int(low)} to {int(high)}")


def cache_parameter(method: str, threshold: float | None) -> tuple[str, float | int]:
    """(the diffusers parameter, its value) that `cache_threshold` sets for `method`."""
    parameter, _, _, default, whole = CACHE_METHODS[method]
    value = default if threshold is None else threshold
    return parameter, int(value) if whole else float(value)


def _check_range(name: str, value, low, high, *, low_open: bool = False) -> None:
    if value < low or value > high or (low_open and value == low):
        accepted = f"above {low} up to {high}" if low_open else f"from {low} to {high}"
        raise ConfigError(f"{name}={value} is out of range; accepted: {accepted}")


def check_plan_settings(*, height: int, width: int, num_frames: int,
                        max_guidance_scale: float, guidance_scale: float | None = None) -> None:
    """The bounds a clip keeps, for a memory plan too: a plan of a 100000-pixel frame or an
    infinite guidance scale answers nothing a person asked."""
    for name, value in (("height", height), ("width", width)):
        _check_range(name, value, 8, MAX_SIDE)
    _check_range("num_frames", num_frames, 1, MAX_FRAMES)
    for name, value in (("max_guidance_scale", max_guidance_scale),
                        ("guidance_scale", guidance_scale)):
        if value is None:
            continue
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
        _check_range(name, value, 0.0, MAX_GUIDANCE)
