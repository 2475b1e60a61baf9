"""Model specs: what each named model is, where its weights live, and its full architecture.

A `ModelSpec` holds the architecture of every pipeline component as a plain config dict (the
same keys as the `config.json` files of the published checkpoints). That lets svlab build a
model of the real size with random weights and no download (`build_pipeline`): speed and
memory do not depend on the weights' values, so full-size benchmarks and memory plans need
no checkpoint. The same path builds the `tiny` model for CPU tests.

This module imports torch, diffusers and transformers only inside the builders, so listing
specs stays instant.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, unknown_choice
from .tiny import tiny_components

PIPELINE_CLASS = "StableVideoDiffusionPipeline"

SVD_UNET: dict[str, Any] = dict(  # diffusers' UNetSpatioTemporalConditionModel defaults = SVD
    sample_size=96,
    in_channels=8,  # 4 noisy latents + 4 latents of the conditioning image
    out_channels=4,
    down_block_types=[
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ],
    up_block_types=[
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ],
    block_out_channels=[320, 640, 1280, 1280],
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=768,  # fps, motion bucket, noise aug: 3 x 256
    layers_per_block=2,
    cross_attention_dim=1024,
    transformer_layers_per_block=1,
    num_attention_heads=[5, 10, 20, 20],
    num_frames=25,
)

SVD_VAE: dict[str, Any] = dict(  # AutoencoderKLTemporalDecoder
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    latent_channels=4,
    sample_size=768,
    scaling_factor=0.18215,
    force_upcast=True,
)

SVD_IMAGE_ENCODER: dict[str, Any] = dict(  # CLIPVisionConfig of OpenCLIP ViT-H/14
    hidden_size=1280,
    intermediate_size=5120,
    projection_dim=1024,
    num_hidden_layers=32,
    num_attention_heads=16,
    num_channels=3,
    image_size=224,
    patch_size=14,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
)

SVD_SCHEDULER: dict[str, Any] = dict(  # EulerDiscreteScheduler as SVD ships it
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="v_prediction",
    interpolation_type="linear",
    use_karras_sigmas=True,
    sigma_min=0.002,
    sigma_max=700.0,
    timestep_spacing="leading",
    timestep_type="continuous",
    steps_offset=1,
)

SVD_FEATURE_EXTRACTOR: dict[str, Any] = dict(  # CLIPImageProcessor
    crop_size={"height": 224, "width": 224},
    size={"shortest_edge": 224},
    do_center_crop=True,
    do_convert_rgb=True,
    do_normalize=True,
    do_rescale=True,
    do_resize=True,
    image_mean=[0.48145466, 0.4578275, 0.40821073],
    image_std=[0.26862954, 0.26130258, 0.27577711],
    resample=3,  # bicubic
    rescale_factor=1 / 255,
)


@dataclass(frozen=True)
class ModelSpec:
    """A named image-to-video model: where its weights come from and how it is built.

    `num_frames`, `fps`, `height` and `width` are what the model was trained to produce;
    `components` maps each pipeline component name to its architecture config.
    """

    id: str
    hub_id: str | None
    pipeline_class: str
    num_frames: int
    fps: int
    height: int
    width: int
    description: str
    components: dict[str, dict] = field(hash=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The spec without its architecture, for listings."""
        return {
            "id": self.id, "hub_id": self.hub_id, "pipeline_class": self.pipeline_class,
            "num_frames": self.num_frames, "fps": self.fps, "height": self.height,
            "width": self.width, "description": self.description,
        }


def _svd_components(num_frames: int) -> dict[str, dict]:
    return {
        "unet": dict(SVD_UNET, num_frames=num_frames),
        "vae": dict(SVD_VAE),
        "image_encoder": dict(SVD_IMAGE_ENCODER),
        "scheduler": dict(SVD_SCHEDULER),
        "feature_extractor": dict(SVD_FEATURE_EXTRACTOR),
    }


# fps: SVD and SVD-XT were micro-conditioned on the clip's frame rate, and diffusers' pipeline
# passes fps=7 by default; SVD-XT 1.1 was fine-tuned with the conditioning fixed at 6 fps.
_SPECS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="svd", hub_id="stabilityai/stable-video-diffusion-img2vid",
            pipeline_class=PIPELINE_CLASS, num_frames=14, fps=7, height=576, width=1024,
            description="Stable Video Diffusion: 14 frames at 576x1024",
            components=_svd_components(14),
        ),
        ModelSpec(
            id="svd-xt", hub_id="stabilityai/stable-video-diffusion-img2vid-xt",
            pipeline_class=PIPELINE_CLASS, num_frames=25, fps=7, height=576, width=1024,
            description="Stable Video Diffusion XT: 25 frames at 576x1024",
            components=_svd_components(25),
        ),
        ModelSpec(
            id="svd-xt-1-1", hub_id="stabilityai/stable-video-diffusion-img2vid-xt-1-1",
            pipeline_class=PIPELINE_CLASS, num_frames=25, fps=6, height=576, width=1024,
            description="Stable Video Diffusion XT 1.1: 25 frames, conditioning fixed at "
                        "6 fps and motion bucket 127 (gated on the Hub)",
            components=_svd_components(25),
        ),
        ModelSpec(
            id="tiny", hub_id=None, pipeline_class=PIPELINE_CLASS,
            num_frames=4, fps=6, height=64, width=64,
            description="Deterministic random-weight SVD for CPU tests and demos (built "
                        "locally, never downloaded)",
            components=tiny_components(),
        ),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The spec registered under `name`; ConfigError naming the known ids otherwise."""
    try:
        return _SPECS[name]
    except KeyError:
        raise ConfigError(unknown_choice("model", name, _SPECS)) from None


def list_specs() -> list[ModelSpec]:
    """Every registered spec, in registration order."""
    return list(_SPECS.values())


def build_modules(spec: ModelSpec, *, dtype=None, device=None, seed: int | None = 0
                  ) -> dict[str, Any]:
    """The weighted components of `spec` (unet, vae, image_encoder) with random weights.

    Each model is built right after `torch.manual_seed(seed)` (unless `seed` is None), so the
    weights are the same on every call. `device` builds the modules there directly (building a
    1.5e9-parameter UNet on the GPU is far faster than on the CPU and then moving it), and in
    `dtype` (default float32) directly, as the default dtype while building, rather than cast
    afterwards: no float32 copy is ever held, and nothing here swaps or reads a tensor, so a
    caller may wrap this in FakeTensorMode or `torch.device("meta")` to count parameters or plan
    memory without allocating them.
    """
    import torch
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = spec.components
    dtype = dtype or torch.float32

    def build(make):
        if seed is not None:
            torch.manual_seed(seed)
        with _default_dtype(dtype), (torch.device(device) if device is not None
                                     else contextlib.nullcontext()):
            module = make()
        return module.eval().requires_grad_(False)

    return {
        "unet": build(lambda: UNetSpatioTemporalConditionModel.from_config(cfg["unet"])),
        "vae": build(lambda: AutoencoderKLTemporalDecoder.from_config(cfg["vae"])),
        "image_encoder": build(lambda: CLIPVisionModelWithProjection(
            CLIPVisionConfig(**cfg["image_encoder"]))),
    }


def build_components(spec: ModelSpec, *, dtype=None, device=None, seed: int | None = 0
                     ) -> dict[str, Any]:
    """Every pipeline component of `spec`: `build_modules` plus the scheduler and the image
    processor, keyed as `StableVideoDiffusionPipeline(**components)` wants them.

    The scheduler computes its sigma table from real tensors when built, so, unlike
    `build_modules`, this does not run under FakeTensorMode.
    """
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPImageProcessor

    components = build_modules(spec, dtype=dtype, device=device, seed=seed)
    components["scheduler"] = EulerDiscreteScheduler.from_config(spec.components["scheduler"])
    components["feature_extractor"] = CLIPImageProcessor(**spec.components["feature_extractor"])
    return components


def build_pipeline(spec: ModelSpec, *, dtype=None, device=None, seed: int | None = 0):
    """A `StableVideoDiffusionPipeline` of `spec`'s architecture with random weights."""
    from diffusers import StableVideoDiffusionPipeline

    components = build_components(spec, dtype=dtype, device=device, seed=seed)
    return StableVideoDiffusionPipeline(**components)


@contextlib.contextmanager
def _default_dtype(dtype):
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
