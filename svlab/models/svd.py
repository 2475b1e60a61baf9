"""Stable Video Diffusion (`StableVideoDiffusionPipeline`): SVD, SVD-XT, SVD-XT 1.1 and the
tiny random-weight variant used by tests and demos.

The architecture of every component is a plain config dict with the keys of the published
checkpoints' config files, so a model of the real size can be built with random weights and no
download: speed and memory do not depend on the weights' values.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.family import Family, ModelSpec
from svlab.models.svd_configs import (
    MINI_IMAGE_ENCODER, MINI_UNET, MINI_VAE, SVD_FEATURE_EXTRACTOR, SVD_IMAGE_ENCODER,
    SVD_SCHEDULER, SVD_UNET, SVD_VAE, TINY_IMAGE_ENCODER, TINY_UNET, TINY_VAE,
)


def _components(unet, vae, image_encoder, num_frames: int) -> dict[str, dict]:
    return {
        "unet": dict(unet, num_frames=num_frames),
        "vae": dict(vae),
        "image_encoder": dict(image_encoder),
        "scheduler": dict(SVD_SCHEDULER),
        "feature_extractor": dict(SVD_FEATURE_EXTRACTOR),
    }


# fps: SVD and SVD-XT were micro-conditioned on the clip's frame rate, and diffusers' pipeline
# passes fps=7 by default; SVD-XT 1.1 was fine-tuned with the conditioning fixed at 6 fps.
SPECS = (
    ModelSpec(
        id="svd", family="svd", hub_id="stabilityai/stable-video-diffusion-img2vid",
        num_frames=14, fps=7, height=576, width=1024,
        description="Stable Video Diffusion: 14 frames at 576x1024",
        components=_components(SVD_UNET, SVD_VAE, SVD_IMAGE_ENCODER, 14),
    ),
    ModelSpec(
        id="svd-xt", family="svd", hub_id="stabilityai/stable-video-diffusion-img2vid-xt",
        num_frames=25, fps=7, height=576, width=1024,
        description="Stable Video Diffusion XT: 25 frames at 576x1024",
        components=_components(SVD_UNET, SVD_VAE, SVD_IMAGE_ENCODER, 25),
    ),
    ModelSpec(
        id="svd-xt-1-1", family="svd",
        hub_id="stabilityai/stable-video-diffusion-img2vid-xt-1-1",
        num_frames=25, fps=6, height=576, width=1024,
        description="Stable Video Diffusion XT 1.1: 25 frames, conditioning fixed at 6 fps "
                    "and motion bucket 127 (gated on the Hub)",
        components=_components(SVD_UNET, SVD_VAE, SVD_IMAGE_ENCODER, 25),
    ),
    ModelSpec(
        id="tiny", family="svd", hub_id=None, num_frames=8, fps=6, height=64, width=64,
        description="Deterministic random-weight SVD for CPU tests and demos (built "
                    "locally, never downloaded)",
        components=_components(TINY_UNET, TINY_VAE, TINY_IMAGE_ENCODER, 4),
        defaults=dict(num_inference_steps=4, use_fp16=False),  # the cpu-tiny profile's
    ),
    ModelSpec(
        id="mini", family="svd", hub_id=None, num_frames=8, fps=7, height=64, width=64,
        description="svlab's own small SVD, trained on pictures and clips that install "
                    "offline: any picture moving, more as motion_bucket_id rises "
                    "(docs/mini-model.md); ships with the package",
        components=_components(MINI_UNET, MINI_VAE, MINI_IMAGE_ENCODER, 8),
        defaults=dict(num_inference_steps=10, min_guidance_scale=1.0, max_guidance_scale=1.0,
                      decode_chunk_size=8, motion_bucket_id=127, noise_aug_strength=0.02,
                      use_fp16=False),
        weights="mini",
    ),
)


class StableVideoDiffusion(Family):
    """An image encoder (CLIP), a spatio-temporal UNet and a temporal-decoder VAE; no text."""

    name = "svd"
    pipeline_class = "StableVideoDiffusionPipeline"
    denoiser = "unet"
    weighted = ("unet", "vae", "image_encoder")
    remedies = ("smaller_decode_chunks", "forward_chunking", "model_offload",
                "sequential_offload")
    stages = ("image_encoding", "denoising", "decoding")
    options = frozenset({"forward_chunking", "decode_chunks"})
    # the CLIP image embedding, and the VAE latents of the image (plus the seed's noise)
    conditioning = ("_encode_image", "_encode_vae_image")
    specs = SPECS

    def build_module(self, component: str, config: dict[str, Any]):
        from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        if component == "unet":
            return UNetSpatioTemporalConditionModel.from_config(config)
        if component == "vae":
            return AutoencoderKLTemporalDecoder.from_config(config)
        return CLIPVisionModelWithProjection(CLIPVisionConfig(**config))

    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        from diffusers import EulerDiscreteScheduler
        from transformers import CLIPImageProcessor

        return {
            "scheduler": EulerDiscreteScheduler.from_config(spec.components["scheduler"]),
            "feature_extractor": CLIPImageProcessor(**spec.components["feature_extractor"]),
        }

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, int) or value < 8 or value % 8:
                raise ConfigError(f"{name}={value} cannot be taken by {spec.id}: Stable Video "
                                  "Diffusion's VAE needs a positive multiple of 8")
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ConfigError(f"num_frames={num_frames} is out of range; accepted: >= 1")

    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        return dict(
            image=image, height=config.height, width=config.width,
            num_frames=config.num_frames, num_inference_steps=config.num_inference_steps,
            min_guidance_scale=config.min_guidance_scale,
            max_guidance_scale=config.max_guidance_scale, fps=config.fps,
            motion_bucket_id=config.motion_bucket_id,
            noise_aug_strength=config.noise_aug_strength,
        )

    def decode(self, pipe, latents, decode_chunk_size: int):
        latents = latents.to(dtype=pipe.vae.dtype)
        frames = pipe.decode_latents(latents, latents.shape[1], decode_chunk_size)
        return pipe.video_processor.postprocess_video(video=frames, output_type="np")

    def use_sdpa(self, pipe) -> None:
        from diffusers.models.attention_processor import AttnProcessor2_0

        for module in (pipe.unet, pipe.vae):
            module.set_attn_processor(AttnProcessor2_0())

    # -- memory traces (see svlab.memory.predict) ------------------------------------------

    def trace_key(self, stage: str, s) -> tuple:
        guidance = s.max_guidance_scale > 1
        if stage == "image_encoding":
            return (stage, s.height, s.width, guidance)
        if stage == "denoising":
            return (stage, s.height, s.width, s.num_frames, guidance, s.forward_chunking)
        return (stage, s.height, s.width, s.num_frames, s.decode_chunk_size, s.device)

    def trace(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        trace = {"image_encoding": _trace_image_encoding, "denoising": _trace_denoising,
                 "decoding": _trace_decoding}[stage]
        return trace(modules, dtype, s, live)


def _vae_scale(vae) -> int:
    """Pixels per latent along each side (8 for SVD's four-block VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def _trace_image_encoding(modules, dtype, s, live) -> list[TraceStep]:
    """CLIP on the 224x224 image, then the VAE encoder on the noised conditioning image (in
    float32 when the pipeline upcasts an fp16 VAE, as diffusers does with `force_upcast`)."""
    import torch
    from diffusers import StableVideoDiffusionPipeline

    guidance = s.max_guidance_scale > 1
    pixels = torch.empty(1, 3, 224, 224, dtype=dtype)
    embeds = modules["image_encoder"](pixels).image_embeds.unsqueeze(1)
    if guidance:
        embeds = torch.cat([torch.zeros_like(embeds), embeds])
    del pixels
    clip = TraceStep("image_encoding", "image_encoder", live.peak)

    live.reset()
    image = torch.empty(1, 3, s.height, s.width)  # preprocess() gives float32
    noise = torch.empty_like(image)
    image = image + 0.02 * noise
    upcast = "vae_fp32" in modules
    latents = StableVideoDiffusionPipeline._encode_vae_image(
        SimpleNamespace(vae=modules["vae_fp32" if upcast else "vae"]), image,
        device=image.device, num_videos_per_prompt=1, do_classifier_free_guidance=guidance)
    latents = latents.to(embeds.dtype)
    vae = TraceStep("image_encoding", "vae", live.peak, "fp32" if upcast else None)
    return [clip, vae]


def _trace_denoising(modules, dtype, s, live) -> list[TraceStep]:
    """One denoising step with everything the pipeline keeps alive during the loop."""
    import torch

    unet = modules["unet"]
    batch = 2 if s.max_guidance_scale > 1 else 1
    scale = _vae_scale(modules["vae"])
    h, w, frames = s.height // scale, s.width // scale, s.num_frames
    channels = modules["vae"].config.latent_channels  # SVD's 4; mini's 8
    _set_forward_chunking(unet, s.forward_chunking)
    try:
        # live across the loop: embeddings, the noised image and its noise, image latents,
        # time ids, latents and the guidance scale per frame
        embeds = torch.empty(batch, 1, unet.config.cross_attention_dim, dtype=dtype)
        image = torch.empty(1, 3, s.height, s.width)
        noise = torch.empty_like(image)
        image_latents = torch.empty(batch, 1, channels, h, w, dtype=dtype).repeat(
            1, frames, 1, 1, 1)
        time_ids = torch.empty(batch, 3, dtype=dtype)
        latents = torch.empty(1, frames, channels, h, w, dtype=dtype)
        guidance = torch.empty(1, frames, 1, 1, 1, dtype=dtype)
        live.reset()

        model_input = torch.cat([latents] * batch) / 2.0  # scale_model_input
        model_input = torch.cat([model_input, image_latents], dim=2)
        noise_pred = unet(model_input, 1.0, encoder_hidden_states=embeds,
                          added_time_ids=time_ids, return_dict=False)[0]
        del model_input
        if batch == 2:
            uncond, cond = noise_pred.chunk(2)
            noise_pred = uncond + guidance * (cond - uncond)
            del uncond, cond
        # Euler step (v-prediction), computed in float32 like diffusers' scheduler
        sample = latents.to(torch.float32)
        denoised = noise_pred * -0.5 + sample * 0.5
        derivative = (sample - denoised) / 2.0
        latents = (sample + derivative * -0.1).to(noise_pred.dtype)
        del sample, denoised, derivative, noise_pred
        step = TraceStep("denoising", "unet", live.peak)
        del embeds, image, noise, image_latents, time_ids, guidance
    finally:
        _set_forward_chunking(unet, False)
    return [step]


def _trace_decoding(modules, dtype, s, live) -> list[TraceStep]:
    """`decode_latents` then the denormalisation, as `StableVideoDiffusion.decode` runs them.

    Only the first, the last, and the last full-size VAE calls are traced: the others do the
    same work as the first with fewer decoded chunks alive, so they cannot set the peak; the
    chunks decoded before each call are held all the same, so each call sees the memory it
    would.
    """
    import torch
    from diffusers.image_processor import VaeImageProcessor

    vae = modules["vae"]
    scale = _vae_scale(vae)
    h, w, frames, chunk = s.height // scale, s.width // scale, s.num_frames, s.decode_chunk_size
    latents = torch.empty(1, frames, vae.config.latent_channels, h, w, dtype=dtype)
    live.reset()
    flat = latents.flatten(0, 1)
    flat = 1 / vae.config.scaling_factor * flat
    starts = list(range(0, frames, chunk))
    last_full = max(i for i, first in enumerate(starts) if first + chunk <= frames)
    decoded = []
    for i, first in enumerate(starts):
        size = min(chunk, frames - first)
        if i in (0, last_full, len(starts) - 1):
            frame = vae.decode(flat[first:first + size], num_frames=size).sample
            shape = frame.shape[1:]
        else:  # the same work as the first call: only its output is needed
            frame = torch.empty(size, *shape, dtype=dtype)
        decoded.append(frame)
        del frame
    video = torch.cat(decoded, dim=0)
    del decoded
    video = video.reshape(-1, frames, *video.shape[1:]).permute(0, 2, 1, 3, 4)
    video = video.float()
    del flat
    # postprocess_video(output_type="np"): denormalise on the device, then to the host
    out = VaeImageProcessor.denormalize(video[0].permute(1, 0, 2, 3))
    del video
    if s.device == "cpu":  # .cpu().permute().float().numpy() is a view of the same storage
        out = out.permute(0, 2, 3, 1)
    step = TraceStep("decoding", "vae", live.peak)
    del out, latents
    return [step]


def _set_forward_chunking(unet, enabled: bool) -> None:
    """diffusers' `enable_forward_chunking()` (chunks of one along the batch, or along frames
    in the temporal blocks); False restores unchunked feed-forward layers."""
    if enabled:
        unet.enable_forward_chunking()
        return
    for module in unet.modules():
        if hasattr(module, "set_chunk_feed_forward"):
            module.set_chunk_feed_forward(None)


FAMILY = StableVideoDiffusion()
