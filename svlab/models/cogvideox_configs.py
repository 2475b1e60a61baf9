"""Architecture configs of CogVideoX-5B-I2V (`THUDM/CogVideoX-5b-I2V`), as its diffusers folders
hold them, and of the tiny variant.

The transformer (42 layers of width 3072, text and video tokens in one sequence) has learned
positional embeddings sized for 480x720 and 49 frames, which is why the model takes no other
frame size; the VAE compresses 8x in space and 4x in time; the text encoder is T5 v1.1 XXL's
encoder; the scheduler is CogVideoX's DDIM with zero-terminal-SNR betas.
"""

from __future__ import annotations

from typing import Any

from svlab.models.ltx_configs import T5_XXL_ENCODER, TINY_T5_ENCODER

COG_TRANSFORMER: dict[str, Any] = dict(
    num_attention_heads=48, attention_head_dim=64, in_channels=32, out_channels=16,
    flip_sin_to_cos=True, freq_shift=0, time_embed_dim=512, text_embed_dim=4096,
    num_layers=42, dropout=0.0, attention_bias=True, sample_width=90, sample_height=60,
    sample_frames=49, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=226,
    activation_fn="gelu-approximate", timestep_activation_fn="silu",
    norm_elementwise_affine=True, norm_eps=1e-5, spatial_interpolation_scale=1.875,
    temporal_interpolation_scale=1.0, use_rotary_positional_embeddings=True,
    use_learned_positional_embeddings=True,
)

COG_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, block_out_channels=[128, 256, 256, 512],
    latent_channels=16, layers_per_block=3, act_fn="silu", norm_eps=1e-6,
    norm_num_groups=32, temporal_compression_ratio=4, sample_height=480, sample_width=720,
    scaling_factor=0.7, force_upcast=True, use_quant_conv=False, use_post_quant_conv=False,
    invert_scale_latents=False,
)

COG_SCHEDULER: dict[str, Any] = dict(  # CogVideoXDDIMScheduler
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
    beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=True, steps_offset=0,
    prediction_type="v_prediction", timestep_spacing="trailing", rescale_betas_zero_snr=True,
    snr_shift_scale=1.0,
)

TEXT_ENCODER = T5_XXL_ENCODER

# 64x64 frames give 8x8 latents; with 2x2 patches and 9 frames (3 latent frames), 48 video
# tokens beside the 226 text tokens, as in the real model's one joint sequence.
TINY_TRANSFORMER: dict[str, Any] = dict(
    COG_TRANSFORMER, num_attention_heads=2, attention_head_dim=16, in_channels=8,
    out_channels=4, time_embed_dim=8, text_embed_dim=32, num_layers=2, sample_width=8,
    sample_height=8, sample_frames=9,
)
TINY_VAE: dict[str, Any] = dict(
    COG_VAE, block_out_channels=[8, 8, 8, 8], latent_channels=4, layers_per_block=1,
    # the sample size sets diffusers' default tile (half of it), and tiles must step by as
    # much as they are cropped to: 48 rows stepping 40 (overlap 1/6), 40 columns stepping 32
    # (overlap 1/5), so a tiled decode of 64x64 frames is 64x64 (at 64x64 the steps rounded
    # to 24 against crops of 27 and 26, and tiled frames came out 70x68)
    norm_num_groups=2, sample_height=96, sample_width=80,
)
TINY_TEXT_ENCODER = TINY_T5_ENCODER
