"""LTX-Video (`LTXImageToVideoPipeline`): the 2B model of Lightricks, conditioned on an image
and a prompt (T5 XXL), and its tiny random-weight variant.

LTX-Video's VAE compresses 32x in space and 8x in time, and its transformer works on one token
per latent pixel: sizes are multiples of 32 and frame counts of the form 8k+1. The pipeline's
`frame_rate` (the rotary positions' time scale) is the clip's `fps`.
"""

from __future__ import annotations

from typing import Any

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.family import ModelSpec
from svlab.models.ltx_configs import (
    LTX_SCHEDULER, LTX_TRANSFORMER, LTX_VAE, T5_XXL_ENCODER, TINY_T5_ENCODER,
    TINY_TRANSFORMER, TINY_VAE,
)
from svlab.models.textvideo import (
    TextVideoFamily, check_frame_count, check_multiple, tiny_tokenizer, trace_text_encoding,
    trace_to_numpy,
)

MAX_SEQUENCE_LENGTH = 128  # the pipeline's default prompt length, in tokens


def _components(transformer, vae, text_encoder) -> dict[str, dict]:
    return {"transformer": dict(transformer), "vae": dict(vae),
            "text_encoder": dict(text_encoder), "scheduler": dict(LTX_SCHEDULER)}


SPECS = (
    ModelSpec(
        id="ltx-video", family="ltx", hub_id="Lightricks/LTX-Video",
        num_frames=121, fps=25, height=512, width=704, dtype="bf16",
        description="LTX-Video 0.9.0 (2B): 121 frames at 512x704, image and prompt",
        components=_components(LTX_TRANSFORMER, LTX_VAE, T5_XXL_ENCODER),
        defaults=dict(num_inference_steps=50, guidance_scale=3.0),
        published_params={"transformer": 2.0, "text_encoder": 4.76},
    ),
    ModelSpec(
        id="tiny-ltx", family="ltx", hub_id=None, num_frames=9, fps=25, height=64, width=64,
        description="Deterministic random-weight LTX-Video for CPU tests and demos (built "
                    "locally, never downloaded)",
        components=_components(TINY_TRANSFORMER, TINY_VAE, TINY_T5_ENCODER),
        defaults=dict(num_inference_steps=4, guidance_scale=3.0, use_fp16=False),
    ),
)


class LTXVideo(TextVideoFamily):
    """T5 XXL for the prompt, a 3D transformer on packed latent tokens, a video VAE."""

    name = "ltx"
    pipeline_class = "LTXImageToVideoPipeline"
    also_loads = ("LTXPipeline",)  # the published folder is saved as the text-to-video one
    weighted = ("transformer", "vae", "text_encoder")
    # LTXVideoTransformer3DModel declares a `_cp_plan`, but in diffusers 0.42.1 it fails on the
    # image-to-video call: that passes one timestep per video token, which the plan does not
    # split, and splitting it too still ends in a shape mismatch inside Ulysses attention. So
    # svlab does not split LTX-Video (context_parallel stays False) until that is solved.
    default_guidance = 3.0
    max_sequence_length = MAX_SEQUENCE_LENGTH
    conditioning = ("encode_prompt",)  # T5; the image latents carry the seed's noise
    specs = SPECS
    cache_methods = ("first_block", "taylorseer", "pyramid_attention")  # tested on the tiny model

    def build_module(self, component: str, config: dict[str, Any]):
        from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
        from transformers import T5Config, T5EncoderModel

        if component == "transformer":
            return LTXVideoTransformer3DModel.from_config(config)
        if component == "vae":
            return AutoencoderKLLTXVideo.from_config(config)
        return T5EncoderModel(T5Config(**config))

    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        return {"scheduler": FlowMatchEulerDiscreteScheduler.from_config(
                    spec.components["scheduler"]),
                "tokenizer": tiny_tokenizer(MAX_SEQUENCE_LENGTH)}

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        spatial, temporal = _compression(spec.components)
        for name, value in (("height", height), ("width", width)):
            check_multiple(spec.id, "LTX-Video", name, value, spatial)
        check_frame_count(spec.id, "LTX-Video", num_frames, temporal)
        if config is not None and config.num_inference_steps < 2:
            # the scheduler's terminal shift divides by zero on a one-step schedule
            raise ConfigError(f"num_inference_steps={config.num_inference_steps} cannot be "
                              f"taken by {spec.id}; accepted: 2 or more")

    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        return dict(
            image=image, **self.prompt_arguments(config, prompt), height=config.height,
            width=config.width, num_frames=config.num_frames, frame_rate=config.fps,
            num_inference_steps=config.num_inference_steps,
            max_sequence_length=MAX_SEQUENCE_LENGTH,
        )

    def embedding_arguments(self, embeds: tuple) -> dict[str, Any]:
        positive, positive_mask, negative, negative_mask = embeds
        return {"prompt": None, "negative_prompt": None, "prompt_embeds": positive,
                "prompt_attention_mask": positive_mask, "negative_prompt_embeds": negative,
                "negative_prompt_attention_mask": negative_mask}

    def unpack(self, pipe, latents, config):
        """The call's packed tokens (batch, tokens, channels) as a latent video."""
        frames, height, width = _latent_shape(pipe, config)
        return pipe._unpack_latents(latents, frames, height, width,
                                    pipe.transformer_spatial_patch_size,
                                    pipe.transformer_temporal_patch_size)

    def decode(self, pipe, latents, decode_chunk_size: int):
        """As the pipeline decodes, at its default `decode_timestep=0`, where the decoding noise
        has no weight (the VAE of 0.9.0 takes no timestep at all)."""
        import torch

        vae = pipe.vae
        latents = pipe._denormalize_latents(latents, vae.latents_mean, vae.latents_std,
                                            vae.config.scaling_factor).to(vae.dtype)
        timestep = None
        if vae.config.timestep_conditioning:
            timestep = torch.zeros(latents.shape[0], device=latents.device, dtype=latents.dtype)
        video = vae.decode(latents, timestep, return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")

    def trace_stage(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        trace = {"conditioning": _trace_conditioning, "denoising": _trace_denoising,
                 "decoding": _trace_decoding}[stage]
        return trace(self, modules, dtype, s, live)


def _compression(components: dict) -> tuple[int, int]:
    """(pixels per latent token along a side, frames per latent frame) of an architecture."""
    vae, transformer = components["vae"], components["transformer"]
    scaled = sum(vae["spatio_temporal_scaling"])
    spatial = vae["patch_size"] * 2 ** scaled * transformer["patch_size"]
    return spatial, vae["patch_size_t"] * 2 ** scaled


def _latent_shape(pipe, config) -> tuple[int, int, int]:
    return ((config.num_frames - 1) // pipe.vae_temporal_compression_ratio + 1,
            config.height // pipe.vae_spatial_compression_ratio,
            config.width // pipe.vae_spatial_compression_ratio)


def _sizes(modules, s) -> tuple[int, int, int, int]:
    vae = modules["vae"]
    return ((s.num_frames - 1) // vae.temporal_compression_ratio + 1,
            s.height // vae.spatial_compression_ratio, s.width // vae.spatial_compression_ratio,
            vae.config.latent_channels)


def _trace_conditioning(family, modules, dtype, s, live) -> list[TraceStep]:
    """The prompt (and negative prompt) through T5, then the image through the VAE's encoder
    and the first latents made, as `encode_prompt` and `prepare_latents` do."""
    import torch

    batch = 2 if family.guidance(s) else 1
    embeds, text = trace_text_encoding(modules["text_encoder"], MAX_SEQUENCE_LENGTH, batch,
                                       dtype, live)
    prompt_embeds = torch.cat(embeds) if batch == 2 else embeds[0]
    mask = torch.empty(batch, MAX_SEQUENCE_LENGTH, dtype=torch.bool)
    del embeds
    live.reset()
    frames, h, w, channels = _sizes(modules, s)
    image = torch.empty(1, 3, s.height, s.width).to(dtype)
    encoded = modules["vae"].encode(image.unsqueeze(2)).latent_dist.sample().float()
    del image
    init = encoded.repeat(1, 1, frames, 1, 1)
    cond = torch.zeros(1, 1, frames, h, w)
    noise = torch.empty(1, channels, frames, h, w)
    latents = (init * cond + noise * (1 - cond)).flatten(2).transpose(1, 2).contiguous()
    del init, noise, encoded
    vae = TraceStep("conditioning", "vae", live.peak)
    del latents, cond, prompt_embeds, mask
    return [text, vae]


def _trace_denoising(family, modules, dtype, s, live) -> list[TraceStep]:
    """One denoising step with what the loop keeps alive: packed latents, the conditioning
    mask, the prompt embeddings and their mask."""
    import torch

    batch = 2 if family.guidance(s) else 1
    frames, h, w, channels = _sizes(modules, s)
    tokens = frames * h * w
    transformer = modules["transformer"]
    prompt_embeds = torch.empty(batch, MAX_SEQUENCE_LENGTH,
                                transformer.config.caption_channels, dtype=dtype)
    mask = torch.empty(batch, MAX_SEQUENCE_LENGTH, dtype=torch.bool)
    latents = torch.empty(1, tokens, channels)
    cond = torch.empty(batch, tokens)
    live.reset()
    model_input = torch.cat([latents] * batch).to(dtype)
    timestep = torch.empty(batch).unsqueeze(-1) * (1 - cond)
    noise_pred = transformer(
        hidden_states=model_input, encoder_hidden_states=prompt_embeds, timestep=timestep,
        encoder_attention_mask=mask, num_frames=frames, height=h, width=w,
        rope_interpolation_scale=(1.0, 32, 32), return_dict=False)[0].float()
    del model_input, timestep
    if batch == 2:
        uncond, text = noise_pred.chunk(2)
        noise_pred = uncond + 3.0 * (text - uncond)
        del uncond, text
    # unpack, the Euler step on all frames but the first, and pack again
    noise_pred = noise_pred.reshape(1, frames, h, w, channels).permute(0, 4, 1, 2, 3)
    video = latents.reshape(1, frames, h, w, channels).permute(0, 4, 1, 2, 3).contiguous()
    stepped = video[:, :, 1:] + 0.1 * noise_pred[:, :, 1:].contiguous()
    latents = torch.cat([video[:, :, :1], stepped], dim=2).flatten(2).transpose(1, 2)
    latents = latents.contiguous()
    step = TraceStep("denoising", "transformer", live.peak)
    del noise_pred, video, stepped, latents, cond, prompt_embeds, mask
    return [step]


def _trace_decoding(family, modules, dtype, s, live) -> list[TraceStep]:
    """`LTXVideo.decode`: denormalise, cast, the VAE's decoder, frames to numpy."""
    import torch

    frames, h, w, channels = _sizes(modules, s)
    latents = torch.empty(1, channels, frames, h, w)  # unpacked after the pipeline call
    live.reset()
    vae = modules["vae"]
    normalised = (latents * 1.0 + 0.0).to(dtype)
    video = vae.decode(normalised, None, return_dict=False)[0]
    del normalised
    peak = trace_to_numpy(video, s, live)
    del video, latents
    return [TraceStep("decoding", "vae", peak)]


FAMILY = LTXVideo()
