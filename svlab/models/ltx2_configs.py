"""Architecture configs of LTX-2 (`Lightricks/LTX-2`, the 19B audio-video model), as diffusers
0.42 builds it, and of its tiny variant.

LTX-2 is one transformer over two token streams, video and audio, with cross-attention between
them (`LTX2VideoTransformer3DModel`: 48 layers, a 4096-wide video stream and a 2048-wide audio
stream); a video VAE with the compression of LTX-Video (32x in space, 8x in time); an audio VAE
over stereo mel spectrograms (16 kHz, hop 160, 64 bins, 4x in time and in mel bins); a vocoder
that turns the mel spectrogram into 24 kHz stereo samples; Gemma 3 12B as the text encoder, all
of its 49 hidden states stacked and projected by the text connectors (one per stream).

Sources of the full-size configs: the class defaults of diffusers 0.42's
`LTX2VideoTransformer3DModel`, `AutoencoderKLLTX2Video`, `AutoencoderKLLTX2Audio`,
`LTX2TextConnectors` and `LTX2Vocoder`, which are LTX-2's sizes (the transformer counts
18.88e9 parameters on the meta device: the "19B" of the model card,
huggingface.co/Lightricks/LTX-2); Gemma 3 12B's config.json (google/gemma-3-12b-it: a 48-layer
3840-wide text model and the 27-layer SigLIP vision tower, 12.19e9 parameters, Gemma 3's
technical report's "12B"). Fields that change no size (rope layout, noise injection) are the
defaults; a published folder's own config.json is what `from_pretrained` reads.

The tiny variant keeps the real compression (sizes multiples of 32, frames 8k+1, 16 kHz mels
with hop 160, a vocoder upsampling 240x to 24 kHz stereo) with narrow layers, so every code path
runs, sound included.
"""

from __future__ import annotations

from typing import Any

LTX2_TRANSFORMER: dict[str, Any] = dict(
    in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32,
    attention_head_dim=128, cross_attention_dim=4096, audio_in_channels=128,
    audio_out_channels=128, audio_num_attention_heads=32, audio_attention_head_dim=64,
    audio_cross_attention_dim=2048, num_layers=48, qk_norm="rms_norm_across_heads",
    caption_channels=3840, audio_sampling_rate=16000, audio_hop_length=160,
)

LTX2_VAE: dict[str, Any] = dict(
    in_channels=3, out_channels=3, latent_channels=128, block_out_channels=[256, 512, 1024, 2048],
    decoder_block_out_channels=[256, 512, 1024], layers_per_block=[4, 6, 6, 2, 2],
    decoder_layers_per_block=[5, 5, 5, 5], spatio_temporal_scaling=[True, True, True, True],
    decoder_spatio_temporal_scaling=[True, True, True],
    decoder_inject_noise=[False, False, False, False],
    downsample_type=["spatial", "temporal", "spatiotemporal", "spatiotemporal"],
    upsample_residual=[True, True, True], upsample_factor=[2, 2, 2],
    timestep_conditioning=False, patch_size=4, patch_size_t=1, scaling_factor=1.0,
    encoder_causal=True, decoder_causal=True,
    # the class would derive 64 and 16 from the four scaling blocks; the published config
    # states what the down-sampling types give: 4 x 2 x 2 x 2 in space, 2 x 2 x 2 in time
    spatial_compression_ratio=32, temporal_compression_ratio=8,
)

LTX2_AUDIO_VAE: dict[str, Any] = dict(
    base_channels=128, output_channels=2, ch_mult=[1, 2, 4], num_res_blocks=2, in_channels=2,
    resolution=256, latent_channels=8, norm_type="pixel", causality_axis="height",
    mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True,
    mel_bins=64,
)

LTX2_CONNECTORS: dict[str, Any] = dict(
    caption_channels=3840, text_proj_in_factor=49, video_connector_num_attention_heads=30,
    video_connector_attention_head_dim=128, video_connector_num_layers=2,
    video_connector_num_learnable_registers=128, audio_connector_num_attention_heads=30,
    audio_connector_attention_head_dim=128, audio_connector_num_layers=2,
    audio_connector_num_learnable_registers=128, connector_rope_base_seq_len=4096,
)

LTX2_VOCODER: dict[str, Any] = dict(
    in_channels=128, hidden_channels=1024, out_channels=2,
    upsample_kernel_sizes=[16, 15, 8, 4, 4], upsample_factors=[6, 5, 2, 2, 2],
    resnet_kernel_sizes=[3, 7, 11], resnet_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    output_sampling_rate=24000,
)

GEMMA3_12B: dict[str, Any] = dict(  # Gemma3Config of google/gemma-3-12b-it
    text_config=dict(
        vocab_size=262208, hidden_size=3840, intermediate_size=15360, num_hidden_layers=48,
        num_attention_heads=16, num_key_value_heads=8, head_dim=256,
        query_pre_attn_scalar=256, sliding_window=1024, max_position_embeddings=131072,
        rope_theta=1_000_000.0, rope_local_base_freq=10_000.0,
    ),
    vision_config=dict(
        hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
        image_size=896, patch_size=14, vision_use_head=False,
    ),
    mm_tokens_per_image=256,
)

LTX2_SCHEDULER: dict[str, Any] = dict(  # FlowMatchEulerDiscreteScheduler, as LTX-Video's
    num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.95,
    max_shift=2.05, base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1,
)

TINY_GEMMA3: dict[str, Any] = dict(
    text_config=dict(
        vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, query_pre_attn_scalar=16,
        sliding_window=64, max_position_embeddings=2048, rope_theta=10_000.0,
        rope_local_base_freq=10_000.0,
    ),
    vision_config=dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=28, patch_size=14, vision_use_head=False,
    ),
    mm_tokens_per_image=4,
)

TINY_TRANSFORMER: dict[str, Any] = dict(
    LTX2_TRANSFORMER, in_channels=8, out_channels=8, num_attention_heads=2, attention_head_dim=8,
    cross_attention_dim=16, audio_in_channels=8, audio_out_channels=8,
    audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
    num_layers=2, caption_channels=32,
)

TINY_VAE: dict[str, Any] = dict(
    LTX2_VAE, latent_channels=8, block_out_channels=[8, 8, 8, 8],
    decoder_block_out_channels=[8, 16, 32], layers_per_block=[1, 1, 1, 1, 1],
    decoder_layers_per_block=[1, 1, 1, 1],
)

TINY_AUDIO_VAE: dict[str, Any] = dict(
    LTX2_AUDIO_VAE, base_channels=8, num_res_blocks=1, resolution=32, latent_channels=2,
    mel_bins=16,
)

TINY_CONNECTORS: dict[str, Any] = dict(
    LTX2_CONNECTORS, caption_channels=32, text_proj_in_factor=3,
    video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
    video_connector_num_layers=1, video_connector_num_learnable_registers=None,
    audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
    audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
    connector_rope_base_seq_len=32,
)

TINY_VOCODER: dict[str, Any] = dict(
    LTX2_VOCODER, in_channels=2 * 16, hidden_channels=32, resnet_kernel_sizes=[3],
    resnet_dilations=[[1, 3, 5]],
)
