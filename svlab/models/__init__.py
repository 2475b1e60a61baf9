"""Stable Video Diffusion models: the registry of specs, the tiny test model, and the loader."""

from .registry import (
    ModelSpec, build_components, build_modules, build_pipeline, get_spec, list_specs,
)
from .tiny import write_tiny_model
