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
    "config": ("PROFILES", "ProcessingConfig", "VideoConfig", "load_config"),
    "errors": ("ConfigError", "FFmpegError", "InputError", "ModelUnavailableError",
               "SvlabError"),
    "records": ("GenerationResult",),
    "fallback": ("fallback_frames",),
    "memory": ("StageTracker", "plan_memory", "recommend"),
    "memory.fit": ("fit_table", "fit_markdown"),
    "models": ("VideoModelLoader", "get_spec", "list_specs", "write_tiny_model"),
    "processor": ("concat_videos", "placeholder_image", "probe", "read_video", "write_video"),
    "processor.interpolate": ("interpolate",),
    "run.clip": ("generate_clip", "unload_models"),
    "run.settings": ("resolve_config",),
    "service": ("generate",),
    "storyboards": ("Storyboard", "load_storyboard", "render_storyboard",
                    "storyboard_from_prompt"),
    "sweep": ("load_sweep", "plan_sweep", "read_results", "sweep"),
    "sweep.compare": ("compare",),
    "sweep.rerun": ("rerun",),
    "sweep.ray_executor": ("RayExecutor",),
    "distributed": ("PoolSettings",),
    "eval.metrics": ("video_metrics",),
    "ui": ("GenerationPanel",),
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
    from .config import PROFILES, ProcessingConfig, VideoConfig, load_config
    from .errors import ConfigError, FFmpegError, InputError, ModelUnavailableError, SvlabError
    from .fallback import fallback_frames
    from .memory import StageTracker, plan_memory, recommend
    from .memory.fit import fit_markdown, fit_table
    from .models import VideoModelLoader, get_spec, list_specs, write_tiny_model
    from .processor import concat_videos, placeholder_image, probe, read_video, write_video
    from .processor.interpolate import interpolate
    from .records import GenerationResult
    from .run.clip import generate_clip, unload_models
    from .run.settings import resolve_config
    from .service import generate
    from .storyboards import (
        Storyboard, load_storyboard, render_storyboard, storyboard_from_prompt,
    )
    from .sweep import load_sweep, plan_sweep, read_results, sweep
    from .sweep.compare import compare
    from .sweep.rerun import rerun
    from .sweep.ray_executor import RayExecutor
    from .distributed import PoolSettings
    from .eval.metrics import video_metrics
    from .ui import GenerationPanel
