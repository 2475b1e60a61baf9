"""The `tiny` model: a deterministic random-weight Stable Video Diffusion small enough for CPU.

Its UNet follows diffusers' own SVD pipeline tests (`get_dummy_components`); its VAE keeps
SVD's four blocks (latents at 1/8 of the frame size) with narrow widths, and its image encoder
takes the 224x224 input the pipeline gives it in 16x16 patches. Every code path of the real
pipeline runs (image encoder, spatio-temporal UNet, temporal VAE decoder, Euler scheduler),
only small. Weights are random but fixed: each component is
built right after `torch.manual_seed(0)`, so the same checkpoint comes out on every machine.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

TINY_UNET = dict(
    sample_size=32,
    in_channels=8,
    out_channels=4,
    down_block_types=["CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"],
    up_block_types=["UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"],
    block_out_channels=[32, 64],
    addition_time_embed_dim=32,
    projection_class_embeddings_input_dim=96,  # 3 added-time ids x addition_time_embed_dim
    layers_per_block=2,
    cross_attention_dim=32,
    transformer_layers_per_block=1,
    num_attention_heads=8,
    num_frames=4,
)

# Four blocks, as in SVD's VAE, so that latents are 1/8 of the frame size like the real
# model's: with fewer, the UNet's spatial attention runs over 16x more tokens and the "tiny"
# model becomes slower than a real one would be at that size.
TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    block_out_channels=[32, 32, 32, 32],
    layers_per_block=1,
    latent_channels=4,
    sample_size=32,
    scaling_factor=0.18215,
    force_upcast=True,
)

TINY_IMAGE_ENCODER = dict(
    hidden_size=32,
    projection_dim=32,  # must equal the UNet's cross_attention_dim
    num_hidden_layers=5,
    num_attention_heads=4,
    image_size=224,  # the pipeline resizes every image to 224x224 for CLIP
    intermediate_size=37,
    patch_size=14,  # 16x16 patches keep the encoder cheap
    hidden_act="gelu",
)

def tiny_components() -> dict[str, dict]:
    """Fresh copies of the tiny architecture configs (scheduler and image processor are SVD's)."""
    from .registry import SVD_FEATURE_EXTRACTOR, SVD_SCHEDULER

    return {
        "unet": dict(TINY_UNET),
        "vae": dict(TINY_VAE),
        "image_encoder": dict(TINY_IMAGE_ENCODER),
        "scheduler": dict(SVD_SCHEDULER),
        "feature_extractor": dict(SVD_FEATURE_EXTRACTOR),
    }


def write_tiny_model(directory: str | os.PathLike) -> Path:
    """Write the tiny checkpoint to `directory` in the ordinary diffusers layout; return it.

    The folder is written beside its destination under a temporary name and renamed into place,
    so a reader never sees half a checkpoint, and calling this twice (or from two processes at
    once) is safe: whichever finishes second finds the folder there and keeps it.
    """
    from .registry import build_pipeline, get_spec

    target = Path(directory).expanduser().resolve()
    if (target / "model_index.json").is_file():
        return target
    if target.exists() and any(target.iterdir()):
        from ..errors import InputError

        raise InputError(f"{target} exists and is not empty; give a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build_pipeline(get_spec("tiny")).save_pretrained(staging, safe_serialization=True)
        if target.exists():
            target.rmdir()  # empty, checked above
        try:
            staging.rename(target)
        except OSError:
            if not (target / "model_index.json").is_file():
                raise  # not a concurrent writer winning the race
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("wrote tiny model to %s", target)
    return target
