"""Architecture configs of HunyuanVideo 1.5 image-to-video (Tencent, 8.3B), at 480p and 720p, as
diffusers 0.42 builds it, and of its tiny variant.

The transformer (`HunyuanVideo15Transformer3DModel`: 54 double-stream blocks of width 2048, two
token-refiner blocks) takes the noisy latents, the image's latents in the first frame and a mask
(2 x 32 + 1 = 65 input channels), the prompt through Qwen2.5-VL 7B's text model (the third-last
hidden state, 3584 wide), quoted text in the prompt through ByT5's encoder (1472 wide) and the
image through SigLIP so400m (729 tokens of 1152). Its `target_size` is the side of the square
whose area every frame size has (640 at 480p, 960 at 720p); the VAE compresses 16x in space and
4x in time into 32 channels.

Sources: the transformer and VAE are diffusers 0.42's class defaults, which are the 480p I2V
checkpoint's (8.33e9 parameters on the meta device: the "8.3B" of the model card,
huggingface.co/tencent/HunyuanVideo-1.5); the 720p checkpoint differs in `target_size` only.
Qwen2.5-VL 7B's text model is Qwen/Qwen2.5-VL-7B-Instruct's config.json text part (7.07e9
without the LM head; the "7B" of its card counts the head and the vision tower too); ByT5 is
google/byt5-small's encoder; SigLIP is google/siglip-so400m-patch14-384's vision tower (0.43e9).
The scheduler shift (5 at 480p, 7 at 720p) and the guidance (6) are the model card's
recommendations for image-to-video.

The tiny variant keeps the compression (16x, 4x), the three encoders and the bucketed sizes
(`target_size` 64: a 64x64 frame is its square bucket) with narrow layers.
"""

from __future__ import annotations

from typing import Any

HY15_TRANSFORMER: dict[str, Any] = dict(
    in_channels=65, out_channels=32, num_attention_heads=16, attention_head_dim=128,
    num_layers=54, num_refiner_layers=2, mlp_ratio=4.0, patch_size=1, patch_size_t=1,
    qk_norm="rms_norm", text_embed_dim=3584, text_embed_2_dim=1472, image_embed_dim=1152,
    rope_theta=256.0, rope_axes_dim=[16, 56, 56], target_size=640, task_type="i2v",
    use_meanflow=False,
)
HY15_TRANSFORMER_720P = dict(HY15_TRANSFORMER, target_size=960)

HY15_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, latent_channels=32,
    block_out_channels=[128, 256, 512, 1024, 1024], layers_per_block=2,
    spatial_compression_ratio=16, temporal_compression_ratio=4, downsample_match_channel=True,
    upsample_match_channel=True, scaling_factor=1.03682,
)

QWEN25_VL_7B_TEXT: dict[str, Any] = dict(  # Qwen2_5_VLTextConfig
    vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
    num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
    rms_norm_eps=1e-6, rope_theta=1_000_000.0,
    rope_scaling={"type": "mrope", "rope_type": "default", "mrope_section": [16, 24, 24]},
)

BYT5_SMALL_ENCODER: dict[str, Any] = dict(  # google/byt5-small, encoder only
    vocab_size=384, d_model=1472, d_kv=64, d_ff=3584, num_layers=12, num_heads=6,
    relative_attention_num_buckets=32, relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu", dropout_rate=0.1, layer_norm_epsilon=1e-6,
    is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
)

SIGLIP_SO400M: dict[str, Any] = dict(  # SiglipVisionConfig of siglip-so400m-patch14-384
    hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
    image_size=384, patch_size=14,
)

SIGLIP_PROCESSOR: dict[str, Any] = dict(  # SiglipImageProcessor
    do_resize=True, size={"height": 384, "width": 384}, resample=3, do_rescale=True,
    rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5, 0.5, 0.5],
    image_std=[0.5, 0.5, 0.5],
)


def flow_shift(shift: float) -> dict[str, Any]:
    """The flow-matching Euler scheduler with the checkpoint's shift."""
    return dict(num_train_timesteps=1000, shift=shift)


TINY_TRANSFORMER: dict[str, Any] = dict(
    HY15_TRANSFORMER, in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8,
    num_layers=2, num_refiner_layers=1, mlp_ratio=2.0, text_embed_dim=16, text_embed_2_dim=32,
    image_embed_dim=16, rope_axes_dim=[2, 2, 4], target_size=64,
)
TINY_VAE: dict[str, Any] = dict(
    HY15_VAE, latent_channels=4, block_out_channels=[8, 8, 8, 8, 8], layers_per_block=1,
)
TINY_QWEN_TEXT: dict[str, Any] = dict(
    QWEN25_VL_7B_TEXT, vocab_size=288, hidden_size=16, intermediate_size=32,
    num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
    max_position_embeddings=2048,
    rope_scaling={"type": "mrope", "rope_type": "default", "mrope_section": [1, 1, 2]},
)
TINY_BYT5: dict[str, Any] = dict(
    BYT5_SMALL_ENCODER, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
    relative_attention_num_buckets=8, relative_attention_max_distance=32,
)
TINY_SIGLIP: dict[str, Any] = dict(
    SIGLIP_SO400M, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
    num_attention_heads=2, image_size=28, patch_size=14,
)
TINY_PROCESSOR: dict[str, Any] = dict(SIGLIP_PROCESSOR, size={"height": 28, "width": 28})
