"""svlab: a Jupyter-first research workbench for image-to-video generation.

The public API is re-exported here; see docs/quickstart.md.
"""

__version__ = "0.1.0"

from .config import PROFILES, ProcessingConfig, VideoConfig, load_config
from .errors import ConfigError, FFmpegError, InputError, ModelUnavailableError, SvlabError
from .fallback import fallback_frames
from .memory import StageTracker, plan_memory, recommend
from .models import VideoModelLoader, get_spec, write_tiny_model
from .processor import concat_videos, placeholder_image, probe, read_video, write_video
from .processor.interpolate import interpolate
from .service import GenerationResult, generate, generate_clip, unload_models
from .story import Storyboard, load_storyboard, render_storyboard, storyboard_from_prompt
from .ui import GenerationPanel

__all__ = [
    "PROFILES", "ProcessingConfig", "VideoConfig", "load_config",
    "ConfigError", "FFmpegError", "InputError", "ModelUnavailableError", "SvlabError",
    "fallback_frames",
    "StageTracker", "plan_memory", "recommend",
    "VideoModelLoader", "get_spec", "write_tiny_model",
    "concat_videos", "placeholder_image", "probe", "read_video", "write_video",
    "interpolate",
    "GenerationResult", "generate", "generate_clip", "unload_models",
    "Storyboard", "load_storyboard", "render_storyboard", "storyboard_from_prompt",
    "GenerationPanel",
]
