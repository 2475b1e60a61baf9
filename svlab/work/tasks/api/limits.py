"""How much work one task may ask of the server, checked before the task is stored.

A request within the settings' own ranges can still ask for hours of work or gigabytes of
frames (a 100-scene storyboard at full size, a large interpolation factor). The operator sets
bounds with `svlab serve` flags; a request over one is refused with 422, naming the limit,
the value asked for and the flag that raises it. The per-task time limit is the backstop for
what these cannot predict (a slow model, a slow disk): the worker stops a run that passes it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError
from svlab.media.interpolate import output_count, rate_ratio
from svlab.render.storyboards import Storyboard


@dataclass(frozen=True)
class ServerLimits:
    """The server's bounds on one task (each a positive number)."""

    max_frames: int = 128  # frames the model makes for one clip (num_frames)
    max_steps: int = 100  # denoising steps (num_inference_steps)
    max_pixel_frames: int = 1_000_000_000  # width x height x output frames, all scenes
    max_seconds: float = 600.0  # seconds of output video
    task_timeout: float = 3600.0  # seconds one run may take before it is stopped

    def __post_init__(self):
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value <= 0:
                flag = name.replace("_", "-")
                raise ConfigError(f"server limit {name} (svlab serve --{flag}) must be a "
                                  f"positive number, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Shot:
    """One clip of a task as it will be rendered: its config and its wanted duration."""

    config: VideoConfig
    duration: float | None = None  # seconds the scene lasts (None: as long as the clip)


@dataclass(frozen=True)
class Work:
    """What a task asks for, in the units the limits use."""

    frames: int  # the largest num_frames of any clip
    steps: int  # the largest num_inference_steps of any clip
    pixel_frames: int  # sum over clips of width x height x output frames
    seconds: float  # length of the output video


def work_of(shots: Iterable[Shot]) -> Work:
    """Add up the work of a task's clips (after interpolation and each scene's duration)."""
    frames = steps = pixel_frames = 0
    seconds = 0.0
    for shot in shots:
        cfg, p = shot.config, shot.config.processing
        if p.interpolation == "none":
            out_frames, out_fps = cfg.num_frames, float(cfg.fps)
        elif p.target_fps is not None:
            out_fps = float(p.target_fps)
            out_frames = output_count(cfg.num_frames, rate_ratio(source_fps=cfg.fps,
                                                                 target_fps=p.target_fps))
        else:
            out_fps = float(cfg.fps * p.interpolation_factor)
            out_frames = output_count(cfg.num_frames, p.interpolation_factor)
        if shot.duration is not None:
            out_frames = max(1, round(shot.duration * out_fps))
        frames = max(frames, cfg.num_frames)
        steps = max(steps, cfg.num_inference_steps)
        pixel_frames += cfg.width * cfg.height * out_frames
        seconds += out_frames / out_fps
    return Work(frames=frames, steps=steps, pixel_frames=pixel_frames, seconds=seconds)


def check_work(work: Work, limits: ServerLimits) -> None:
    """Raise ConfigError naming the first limit that `work` passes."""
    checks = [
        (work.frames, limits.max_frames, "num_frames", "frames per clip", "--max-frames"),
        (work.steps, limits.max_steps, "num_inference_steps", "denoising steps",
         "--max-steps"),
        (work.pixel_frames, limits.max_pixel_frames, "width x height x output frames",
         "pixel-frames per task", "--max-pixel-frames"),
        (round(work.seconds, 3), limits.max_seconds, "output duration",
         "seconds of video per task", "--max-seconds"),
    ]
    for value, limit, what, unit, flag in checks:
        if value > limit:
            raise ConfigError(f"{what}={value:g} is over this server's limit of {limit:g} "
                              f"{unit} (svlab serve {flag})")


def task_shots(request: Mapping[str, Any], config: VideoConfig,
               board: Storyboard | None) -> list[Shot]:
    """The clips a request makes, each with its own settings, for checking its size."""
    if board is None:
        return [Shot(config)]
    shots = []
    for i, scene in enumerate(board.scenes, 1):
        try:
            shots.append(Shot(config.replace(**scene.settings), scene.duration))
        except ConfigError as e:
            raise ConfigError(f"scene {i}: {e}") from None
    return shots
