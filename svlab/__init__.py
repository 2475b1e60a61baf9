"""svlab: a Jupyter-first research workbench for image-to-video generation.

The public API is re-exported here; see docs/quickstart.md.
"""

__version__ = "0.1.0"

from .config import PROFILES, ProcessingConfig, VideoConfig, load_config
from .errors import ConfigError, FFmpegError, InputError, ModelUnavailableError, SvlabError
from .processor import write_video, read_video, probe, placeholder_image, concat_videos
from .fallback import fallback_frames
from .story import Storyboard, load_storyboard, render_storyboard, storyboard_from_prompt
from .service import GenerationResult, generate, generate_clip, unload_models
from .memory import StageTracker, plan_memory, recommend
from .ui import GenerationPanel
from .processor.interpolate import interpolate
from .models import VideoModelLoader, get_spec, write_tiny_model
