"""Architecture configs of the Wan image-to-video models, as their diffusers folders hold them,
and of the tiny variant.

- Wan2.1 I2V 14B (480p and 720p: the same architecture, other weights and flow shift): a 40-layer
  transformer of width 5120 with image cross-attention fed by a CLIP ViT-H/14 image encoder;
- Wan2.2 I2V A14B: two such transformers without the image branch, a high-noise and a
  low-noise expert, switched at `boundary_ratio` of the schedule;
- Wan2.2 TI2V 5B: a 30-layer transformer of width 3072 on the Wan2.2 VAE (16x spatial
  compression, 48 latent channels), the image given as the first latent frame
  (`expand_timesteps`).

All use umT5 XXL's encoder for the prompt and a UniPC flow-matching scheduler. The VAEs'
`latents_mean`/`latents_std` are normalisation statistics, not architecture: the Wan2.1 VAE's
are diffusers' defaults (the published ones); the Wan2.2 VAE's 48 are set to 0 and 1 here, which
changes no size, time or memory.
"""

from __future__ import annotations

from typing import Any

WAN_14B: dict[str, Any] = dict(  # WanTransformer3DModel of Wan2.1 I2V 14B
    patch_size=[1, 2, 2], num_attention_heads=40, attention_head_dim=128, in_channels=36,
    out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40,
    cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=1280,
    added_kv_proj_dim=5120, rope_max_seq_len=1024,
)
WAN22_A14B = dict(WAN_14B, image_dim=None, added_kv_proj_dim=None)  # each expert
WAN22_5B = dict(WAN_14B, num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48,
                out_channels=48, image_dim=None, added_kv_proj_dim=None)

WAN_VAE: dict[str, Any] = dict(  # AutoencoderKLWan of Wan2.1 (diffusers' defaults)
    base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
    temperal_downsample=[False, True, True], dropout=0.0,
    latents_mean=[-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                  0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921],
    latents_std=[2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916],
)
WAN22_VAE: dict[str, Any] = dict(
    WAN_VAE, base_dim=160, decoder_base_dim=256, z_dim=48, is_residual=True, in_channels=12,
    out_channels=12, patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4,
    latents_mean=[0.0] * 48, latents_std=[1.0] * 48,
)

UMT5_XXL_ENCODER: dict[str, Any] = dict(  # google/umt5-xxl, encoder only
    vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
    relative_attention_num_buckets=32, relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu", dropout_rate=0.1, layer_norm_epsilon=1e-6,
    tie_word_embeddings=False, use_cache=False,
)

CLIP_VIT_H: dict[str, Any] = dict(  # CLIPVisionModel of open-clip xlm-roberta-large-vit-huge-14
    hidden_size=1280, intermediate_size=5120, projection_dim=1024, num_hidden_layers=32,
    num_attention_heads=16, num_channels=3, image_size=224, patch_size=14, hidden_act="gelu",
    layer_norm_eps=1e-5,
)

CLIP_PROCESSOR: dict[str, Any] = dict(  # CLIPImageProcessor
    crop_size={"height": 224, "width": 224}, size={"shortest_edge": 224},
    do_center_crop=True, do_convert_rgb=True, do_normalize=True, do_rescale=True,
    do_resize=True, image_mean=[0.48145466, 0.4578275, 0.40821073],
    image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, rescale_factor=1 / 255,
)


def unipc(flow_shift: float) -> dict[str, Any]:
    """The UniPC flow-matching scheduler the checkpoints ship (3.0 at 480p, 5.0 at 720p)."""
    return dict(prediction_type="flow_prediction", use_flow_sigmas=True,
                num_train_timesteps=1000, flow_shift=flow_shift, solver_order=2,
                solver_type="bh2", predict_x0=True, lower_order_final=True,
                final_sigmas_type="zero", timestep_spacing="linspace")


TINY_TRANSFORMER: dict[str, Any] = dict(
    WAN_14B, num_attention_heads=2, attention_head_dim=8, in_channels=12, out_channels=4,
    text_dim=32, freq_dim=32, ffn_dim=32, num_layers=2, image_dim=32, added_kv_proj_dim=16,
    rope_max_seq_len=32,
)
TINY_VAE: dict[str, Any] = dict(
    WAN_VAE, base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
    latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[1.5, 0.8, 1.2, 1.0],
)
TINY_UMT5_ENCODER: dict[str, Any] = dict(
    UMT5_XXL_ENCODER, vocab_size=256, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
    relative_attention_num_buckets=8, relative_attention_max_distance=32,
)
TINY_CLIP: dict[str, Any] = dict(
    CLIP_VIT_H, hidden_size=32, intermediate_size=37, projection_dim=32, num_hidden_layers=2,
    num_attention_heads=4, image_size=32, patch_size=8,
)
TINY_PROCESSOR: dict[str, Any] = dict(
    CLIP_PROCESSOR, crop_size={"height": 32, "width": 32}, size={"shortest_edge": 32},
)
