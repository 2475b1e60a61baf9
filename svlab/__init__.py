"""svlab: a Jupyter-first research workbench for image-to-video generation.

The public API is re-exported here, lazily: `import svlab` loads none of svlab's modules and
none of the heavy libraries (torch, diffusers, OpenCV, ipywidgets); a name is imported from
its module the first time it is used (`svlab.generate`, `from svlab import VideoConfig`), the
way diffusers exposes its own names. See docs/quickstart.md and docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "core.config": ("PROFILES", "ProcessingConfig", "VideoConfig"),
    "core.errors": ("ConfigError", "FFmpegError", "InputError", "ModelUnavailableError",
               "SvlabError"),
    "core.records": ("GenerationResult",),
    "media.fallback": ("fallback_frames",),
    "memory": ("StageTracker", "plan_memory", "recommend"),
    "memory.fit": ("fit_table", "fit_markdown"),
    "models": ("VideoModelLoader", "get_spec", "list_specs", "write_tiny_model"),
    "media": ("concat_videos", "placeholder_image", "probe", "read_video", "write_video"),
    "media.interpolate": ("interpolate",),
    "run.clip": ("generate_clip", "unload_models"),
    "run.settings": ("load_config",),  # the one way to make a config
    "render.service": ("generate",),
    "render.storyboards": ("Storyboard", "load_storyboard", "render_storyboard",
                    "storyboard_from_prompt"),
    "work.sweep": ("load_sweep", "plan_sweep", "read_results", "sweep"),
    "work.sweep.compare": ("compare",),
    "work.rerun": ("rerun",),
    "work.runs": ("runs",),
    "work.sweep.ray_executor": ("RayExecutor",),
    "work.distributed": ("PoolSettings",),
    "render.eval.metrics": ("video_metrics",),
    "face.ui": ("GenerationPanel",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'svlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what editors and type checkers see; never run
    from svlab.core.config import PROFILES, ProcessingConfig, VideoConfig
    from svlab.core.errors import ConfigError, FFmpegError, InputError, ModelUnavailableError, SvlabError
    from svlab.media.fallback import fallback_frames
    from svlab.memory import StageTracker, plan_memory, recommend
    from svlab.memory.fit import fit_markdown, fit_table
    from svlab.models import VideoModelLoader, get_spec, list_specs, write_tiny_model
    from svlab.media import concat_videos, placeholder_image, probe, read_video, write_video
    from svlab.media.interpolate import interpolate
    from svlab.core.records import GenerationResult
    from svlab.run.clip import generate_clip, unload_models
    from svlab.run.settings import load_config
    from svlab.render.service import generate
    from svlab.render.storyboards import (
        Storyboard, load_storyboard, render_storyboard, storyboard_from_prompt,
    )
    from svlab.work.sweep import load_sweep, plan_sweep, read_results, sweep
    from svlab.work.sweep.compare import compare
    from svlab.work.rerun import rerun
    from svlab.work.runs import runs
    from svlab.work.sweep.ray_executor import RayExecutor
    from svlab.work.distributed import PoolSettings
    from svlab.render.eval.metrics import video_metrics
    from svlab.face.ui import GenerationPanel
