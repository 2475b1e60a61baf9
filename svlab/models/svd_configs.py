"""Architecture configs of Stable Video Diffusion's components, as the published checkpoints'
config files hold them, and of the tiny variant.

The tiny model's UNet follows diffusers' own SVD pipeline tests (`get_dummy_components`); its
VAE keeps SVD's four blocks (latents at 1/8 of the frame size) with narrow widths, and its
image encoder takes the 224x224 input the pipeline gives it in 16x16 patches. Every code path
of the real pipeline runs (image encoder, spatio-temporal UNet, temporal VAE decoder, Euler
scheduler), only small.
"""

from __future__ import annotations

from typing import Any

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

TINY_UNET: dict[str, Any] = dict(
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
TINY_VAE: dict[str, Any] = dict(
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

TINY_IMAGE_ENCODER: dict[str, Any] = dict(
    hidden_size=32,
    projection_dim=32,  # must equal the UNet's cross_attention_dim
    num_hidden_layers=5,
    num_attention_heads=4,
    image_size=224,  # the pipeline resizes every image to 224x224 for CLIP
    intermediate_size=37,
    patch_size=14,  # 16x16 patches keep the encoder cheap
    hidden_act="gelu",
)

# svlab's `mini`: the same classes, trained here (training/train_mini.py, docs/mini-model.md).
# Its VAE downsamples 4x, not 8x, into 8 channels, so a 64x64 frame keeps 16x16 latents and
# the picture survives the round trip. Its full-resolution blocks are 64 wide although 32 would
# be cheaper: diffusers' VAE normalises in 32 groups, and with one channel a group the last
# norm erases each frame's mean colour (a 32-wide first try stalled at 13 dB); the UNet is
# three levels of 96 channels over the 16x16 latents (128 would not fit the 30 MB that the
# weights may take in the repository, in float16); the image
# encoder is a small ViT with 28-pixel patches, kept at its seeded random weights (the UNet
# learns to read its embedding). The scaling factor is measured after training (1 / the
# latents' standard deviation) and saved in the folder; this value is the planner's.
MINI_VAE: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 3,
    block_out_channels=[64, 64, 128],
    layers_per_block=1,
    latent_channels=8,
    sample_size=64,
    scaling_factor=1.0,
    force_upcast=False,
)

MINI_UNET: dict[str, Any] = dict(
    sample_size=16,
    in_channels=16,  # 8 noisy latents + 8 latents of the conditioning image
    out_channels=8,
    down_block_types=["DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                      "CrossAttnDownBlockSpatioTemporal"],
    up_block_types=["CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                    "UpBlockSpatioTemporal"],
    block_out_channels=[96, 96, 96],  # 3 channels a norm group (see above)
    addition_time_embed_dim=32,
    projection_class_embeddings_input_dim=96,
    layers_per_block=1,
    cross_attention_dim=64,
    transformer_layers_per_block=1,
    num_attention_heads=[4, 4, 4],
    num_frames=8,
)

MINI_IMAGE_ENCODER: dict[str, Any] = dict(
    hidden_size=64,
    projection_dim=64,  # the UNet's cross_attention_dim
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=224,
    intermediate_size=128,
    patch_size=28,
    hidden_act="gelu",
)
