"""Architecture configs of LTX-Video 0.9.0 (the 2B model, `Lightricks/LTX-Video`), as its
diffusers folders hold them, and of the tiny variant.

The transformer is diffusers' `LTXVideoTransformer3DModel` with its defaults (which are the
published config), the VAE is the 0.9.0 `AutoencoderKLLTXVideo` (32x spatial and 8x temporal
compression, no timestep conditioning), the text encoder is T5 v1.1 XXL's encoder, and the
scheduler is the flow-matching Euler scheduler with the shift the checkpoint ships.

The tiny variant keeps the real compression (latents are 1/32 of the frame's side and one per
8 frames after the first), so sizes and frame counts are checked the same way, with narrow
layers: every code path of the real pipeline runs, only small.
"""

from __future__ import annotations

from typing import Any

LTX_TRANSFORMER: dict[str, Any] = dict(
    in_channels=128, out_channels=128, patch_size=1, patch_size_t=1,
    num_attention_heads=32, attention_head_dim=64, cross_attention_dim=2048, num_layers=28,
    activation_fn="gelu-approximate", qk_norm="rms_norm_across_heads",
    norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096,
    attention_bias=True, attention_out_bias=True,
)

LTX_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, latent_channels=128,
    block_out_channels=[128, 256, 512, 512], decoder_block_out_channels=[128, 256, 512, 512],
    layers_per_block=[4, 3, 3, 3, 4], decoder_layers_per_block=[4, 3, 3, 3, 4],
    spatio_temporal_scaling=[True, True, True, False],
    decoder_spatio_temporal_scaling=[True, True, True, False],
    decoder_inject_noise=[False, False, False, False, False],
    upsample_residual=[False, False, False, False], upsample_factor=[1, 1, 1, 1],
    patch_size=4, patch_size_t=1, resnet_norm_eps=1e-6, scaling_factor=1.0,
    encoder_causal=True, decoder_causal=False, timestep_conditioning=False,
)

T5_XXL_ENCODER: dict[str, Any] = dict(  # google/t5-v1_1-xxl, encoder only
    vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
    relative_attention_num_buckets=32, relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu", dropout_rate=0.1, layer_norm_epsilon=1e-6,
    is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
)

LTX_SCHEDULER: dict[str, Any] = dict(  # FlowMatchEulerDiscreteScheduler
    num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.95,
    max_shift=2.05, base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1,
)

TINY_TRANSFORMER: dict[str, Any] = dict(
    LTX_TRANSFORMER, in_channels=16, out_channels=16, num_attention_heads=4,
    attention_head_dim=8, cross_attention_dim=32, num_layers=2, caption_channels=32,
)

TINY_VAE: dict[str, Any] = dict(
    LTX_VAE, latent_channels=16, block_out_channels=[16, 16, 16, 16],
    decoder_block_out_channels=[16, 16, 16, 16], layers_per_block=[1, 1, 1, 1, 1],
    decoder_layers_per_block=[1, 1, 1, 1, 1],
)

TINY_T5_ENCODER: dict[str, Any] = dict(
    T5_XXL_ENCODER, vocab_size=256, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
    relative_attention_num_buckets=8, relative_attention_max_distance=32,
)
