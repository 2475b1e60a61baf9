"""Stable Video Diffusion models: the registry of specs, where weights are found, the tiny test
model, and the loader."""

from .loader import VideoModelLoader, resolve_device, xformers_available
from .registry import (
    ModelSpec, build_components, build_modules, build_pipeline, get_spec, list_specs,
)
from .resolve import ResolvedModel, check_folder, choose_model, models_dir, resolve_model
from .tiny import write_tiny_model
