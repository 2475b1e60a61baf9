"""Models: the families svlab runs and their named specs (registry), random-weight builds of
any spec (tiny test models included), where weights are found, the loader, and text-to-image
for keyframes."""

from svlab.models.build import build_components, build_modules, build_pipeline, write_tiny_model
from svlab.models.family import Family, ModelSpec
from svlab.models.loader import VideoModelLoader, resolve_device, xformers_available
from svlab.models.registry import family_of, get_spec, list_specs
from svlab.models.resolve import ResolvedModel, check_folder, choose_model, models_dir, resolve_model
from svlab.models.text2image import TextToImage

__all__ = [
    "build_components", "build_modules", "build_pipeline", "write_tiny_model",
    "Family", "ModelSpec",
    "VideoModelLoader", "resolve_device", "xformers_available",
    "family_of", "get_spec", "list_specs",
    "ResolvedModel", "check_folder", "choose_model", "models_dir", "resolve_model",
    "TextToImage",
]
