"""Wan (`WanImageToVideoPipeline`): Wan2.1 I2V 14B at 480p and 720p, Wan2.2 I2V A14B (two
experts), Wan2.2 TI2V 5B, and the tiny random-weight variant (shaped like Wan2.1 I2V).

Wan's VAE compresses 8x in space (16x for the Wan2.2 VAE) and 4x in time and its transformer
patches latents 2x2: sizes are multiples of 16 (32 for TI2V 5B) and frame counts of the form
4k+1. The pipeline would round other values silently; here they are errors.
"""

from __future__ import annotations

from typing import Any

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.family import ModelSpec
from svlab.models.textvideo import (
    TextVideoFamily, check_frame_count, check_multiple, tiny_tokenizer, trace_text_encoding,
    trace_to_numpy,
)
from svlab.models.wan_configs import (
    CLIP_PROCESSOR, CLIP_VIT_H, TINY_CLIP, TINY_PROCESSOR, TINY_TRANSFORMER, TINY_UMT5_ENCODER,
    TINY_VAE, UMT5_XXL_ENCODER, WAN22_5B, WAN22_A14B, WAN22_VAE, WAN_14B, WAN_VAE, unipc,
)

MAX_SEQUENCE_LENGTH = 512


def _components(transformer, vae, text_encoder, *, flow_shift, image_encoder=None,
                processor=None, expert=None, boundary_ratio=None, expand_timesteps=False):
    parts = {"transformer": dict(transformer), "vae": dict(vae),
             "text_encoder": dict(text_encoder), "scheduler": unipc(flow_shift),
             "pipeline": {"boundary_ratio": boundary_ratio,
                          "expand_timesteps": expand_timesteps}}
    if expert is not None:
        parts["transformer_2"] = dict(expert)
    if image_encoder is not None:
        parts["image_encoder"] = dict(image_encoder)
        parts["image_processor"] = dict(processor)
    return parts


_WAN21 = dict(num_frames=81, fps=16, dtype="bf16",
              defaults=dict(num_inference_steps=50, guidance_scale=5.0),
              published_params={"transformer": 14.0, "text_encoder": 5.68})
SPECS = (
    ModelSpec(
        id="wan2.1-i2v-14b-480p", family="wan", hub_id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        height=480, width=832, description="Wan2.1 I2V 14B: 81 frames at 480x832, image and "
                                           "prompt", **_WAN21,
        components=_components(WAN_14B, WAN_VAE, UMT5_XXL_ENCODER, flow_shift=3.0,
                               image_encoder=CLIP_VIT_H, processor=CLIP_PROCESSOR),
    ),
    ModelSpec(
        id="wan2.1-i2v-14b-720p", family="wan", hub_id="Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
        height=720, width=1280, description="Wan2.1 I2V 14B: 81 frames at 720x1280",
        **_WAN21,
        components=_components(WAN_14B, WAN_VAE, UMT5_XXL_ENCODER, flow_shift=5.0,
                               image_encoder=CLIP_VIT_H, processor=CLIP_PROCESSOR),
    ),
    ModelSpec(
        id="wan2.2-i2v-a14b", family="wan", hub_id="Wan-AI/Wan2.2-I2V-A14B-Diffusers",
        num_frames=81, fps=16, height=720, width=1280, dtype="bf16",
        description="Wan2.2 I2V A14B: two 14B experts (high and low noise), 81 frames at "
                    "720x1280",
        components=_components(WAN22_A14B, WAN_VAE, UMT5_XXL_ENCODER, flow_shift=5.0,
                               expert=WAN22_A14B, boundary_ratio=0.9),
        defaults=dict(num_inference_steps=40, guidance_scale=3.5, guidance_scale_2=3.5),
        published_params={"transformer": 14.0, "transformer_2": 14.0, "text_encoder": 5.68},
    ),
    ModelSpec(
        id="wan2.2-ti2v-5b", family="wan", hub_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        num_frames=121, fps=24, height=704, width=1280, dtype="bf16",
        description="Wan2.2 TI2V 5B: 121 frames at 704x1280 on the 16x Wan2.2 VAE",
        components=_components(WAN22_5B, WAN22_VAE, UMT5_XXL_ENCODER, flow_shift=5.0,
                               expand_timesteps=True),
        defaults=dict(num_inference_steps=50, guidance_scale=5.0),
        published_params={"transformer": 5.0, "text_encoder": 5.68},
    ),
    ModelSpec(
        id="tiny-wan", family="wan", hub_id=None, num_frames=9, fps=16, height=64, width=64,
        description="Deterministic random-weight Wan (shaped like Wan2.1 I2V) for CPU tests "
                    "and demos (built locally, never downloaded)",
        components=_components(TINY_TRANSFORMER, TINY_VAE, TINY_UMT5_ENCODER, flow_shift=3.0,
                               image_encoder=TINY_CLIP, processor=TINY_PROCESSOR),
        defaults=dict(num_inference_steps=4, guidance_scale=5.0, use_fp16=False),
    ),
)


class Wan(TextVideoFamily):
    """umT5 for the prompt (CLIP for the image in Wan2.1), one or two transformer experts run
    once per prompt and guidance branch, a causal video VAE."""

    name = "wan"
    pipeline_class = "WanImageToVideoPipeline"
    also_loads = ("WanPipeline",)  # TI2V 5B's folder is saved as the text-to-video pipeline
    weighted = ("transformer", "transformer_2", "vae", "text_encoder", "image_encoder")
    context_parallel = True  # WanTransformer3DModel._cp_plan
    default_guidance = 5.0
    max_sequence_length = MAX_SEQUENCE_LENGTH
    conditioning = ("encode_prompt", "encode_image")  # umT5, and Wan2.1's CLIP image encoder
    specs = SPECS
    cache_methods = ("first_block", "taylorseer", "pyramid_attention")  # tested on the tiny model
    repeated = ("vae.encoder", "vae.decoder")  # once per chunk of frames, with caches

    def build_module(self, component: str, config: dict[str, Any]):
        from diffusers import AutoencoderKLWan, WanTransformer3DModel
        from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

        if component in ("transformer", "transformer_2"):
            return WanTransformer3DModel.from_config(config)
        if component == "vae":
            return AutoencoderKLWan.from_config(config)
        if component == "image_encoder":
            return CLIPVisionModel(CLIPVisionConfig(**config))
        return UMT5EncoderModel(UMT5Config(**config))

    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        from diffusers import UniPCMultistepScheduler
        from transformers import CLIPImageProcessor

        parts = spec.components
        processor = parts.get("image_processor")
        extras = {"scheduler": UniPCMultistepScheduler.from_config(parts["scheduler"]),
                  "tokenizer": tiny_tokenizer(MAX_SEQUENCE_LENGTH),
                  "image_processor": CLIPImageProcessor(**processor) if processor else None,
                  **parts["pipeline"]}
        for optional in ("image_encoder", "transformer_2"):
            if optional not in parts:
                extras[optional] = None
        return extras

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        vae, transformer = spec.components["vae"], spec.components["transformer"]
        spatial = vae.get("scale_factor_spatial", 8) * transformer["patch_size"][1]
        temporal = vae.get("scale_factor_temporal", 4)
        for name, value in (("height", height), ("width", width)):
            check_multiple(spec.id, "Wan", name, value, spatial)
        check_frame_count(spec.id, "Wan", num_frames, temporal)
        if (config is not None and config.guidance_scale_2 is not None
                and "transformer_2" not in spec.components):
            raise ConfigError(f"guidance_scale_2 is for the low-noise expert of a two-expert "
                              f"model (wan2.2-i2v-a14b); {spec.id} has one transformer")

    def sequence_length(self, spec: ModelSpec, *, height: int, width: int,
                        num_frames: int) -> int:
        vae, transformer = spec.components["vae"], spec.components["transformer"]
        t, h, w = transformer["patch_size"]
        spatial = vae.get("scale_factor_spatial", 8)
        frames = (num_frames - 1) // vae.get("scale_factor_temporal", 4) + 1
        return (frames // t) * (height // spatial // h) * (width // spatial // w)

    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        arguments = dict(
            image=image, **self.prompt_arguments(config, prompt), height=config.height,
            width=config.width, num_frames=config.num_frames,
            num_inference_steps=config.num_inference_steps,
            max_sequence_length=MAX_SEQUENCE_LENGTH)
        if config.guidance_scale_2 is not None:
            arguments["guidance_scale_2"] = config.guidance_scale_2
        return arguments

    def decode(self, pipe, latents, decode_chunk_size: int):
        """As the pipeline decodes: un-normalise with the VAE's statistics, decode, to numpy."""
        import torch
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = pipe.vae
        latents = latents.to(device=get_module_execution_device(vae), dtype=vae.dtype)
        shape = (1, vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device,
                                                                     latents.dtype)
        std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(latents.device,
                                                                         latents.dtype)
        video = vae.decode(latents / std + mean, return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")

    def trace_stage(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        if stage == "conditioning":
            return self._trace_conditioning(modules, dtype, s, live)
        if stage == "denoising":
            return self._trace_denoising(modules, dtype, s, live)
        return _trace_decoding(modules, dtype, s, live)

    def _trace_conditioning(self, modules, dtype, s, live) -> list[TraceStep]:
        """umT5 on the prompt(s), CLIP on the image (Wan2.1), then the VAE's encoder on the
        conditioning video: the image followed by zeros (the image alone with
        `expand_timesteps`)."""
        import torch

        prompts = 2 if self.guidance(s) else 1
        embeds, text = trace_text_encoding(modules["text_encoder"], MAX_SEQUENCE_LENGTH,
                                           prompts, dtype, live)
        steps = [text]
        if "image_encoder" in modules:
            live.reset()
            side = modules["image_encoder"].config.image_size
            pixels = torch.empty(1, 3, side, side)
            hidden = modules["image_encoder"](pixels.to(dtype), output_hidden_states=True)
            image_embeds = hidden.hidden_states[-2]
            del hidden, pixels
            steps.append(TraceStep("conditioning", "image_encoder", live.peak))
        live.reset()
        vae = modules["vae"]
        frames, h, w, channels = _latent_sizes(vae, s)
        image = torch.empty(1, 3, 1, s.height, s.width)
        expand = not _has_condition_channels(modules)
        video = image if expand else torch.cat(
            [image, image.new_zeros(1, 3, s.num_frames - 1, s.height, s.width)], dim=2)
        video = video.to(dtype)
        latents = torch.empty(1, channels, frames, h, w)
        condition = vae.encode(video).latent_dist.mode().float()
        del video, image
        condition = (condition - 0.0) * 1.0
        if not expand:
            mask = torch.ones(1, 4, frames, h, w)
            condition = torch.cat([mask, condition], dim=1)
            del mask
        steps.append(TraceStep("conditioning", "vae", live.peak))
        del latents, condition, embeds
        return steps

    def _trace_denoising(self, modules, dtype, s, live) -> list[TraceStep]:
        """One step: the transformer on the conditional prompt, then (with guidance) on the
        negative one while the first prediction is held, the guidance and the UniPC update
        (which keeps the last two predictions)."""
        import torch

        transformer = modules["transformer"]
        vae = modules["vae"]
        frames, h, w, channels = _latent_sizes(vae, s)
        expand = not _has_condition_channels(modules)
        prompts = [torch.empty(1, MAX_SEQUENCE_LENGTH, transformer.config.text_dim, dtype=dtype)
                   for _ in range(2 if self.guidance(s) else 1)]
        image_embeds = None
        if transformer.config.image_dim is not None:
            image_embeds = torch.empty(1, 257, transformer.config.image_dim, dtype=dtype)
        latents = torch.empty(1, channels, frames, h, w)
        condition = torch.empty(1, channels if expand else channels + 4, frames, h, w)
        history = [torch.empty_like(latents) for _ in range(3)]  # UniPC's outputs and sample
        live.reset()
        if expand:
            model_input = ((1 - condition) * condition + condition * latents).to(dtype)
            timestep = torch.empty(1, frames * (h // 2) * (w // 2))
        else:
            model_input = torch.cat([latents, condition], dim=1).to(dtype)
            timestep = torch.empty(1)
        predictions = []
        for prompt in prompts:
            predictions.append(transformer(
                hidden_states=model_input, timestep=timestep, encoder_hidden_states=prompt,
                encoder_hidden_states_image=image_embeds, return_dict=False)[0])
        noise_pred = predictions[0]
        if len(predictions) == 2:
            noise_pred = predictions[1] + 5.0 * (predictions[0] - predictions[1])
        del predictions, model_input
        latents = latents + 0.1 * noise_pred.float()
        peak = live.peak
        del noise_pred, latents, condition, history, prompts, image_embeds
        experts = [c for c in ("transformer", "transformer_2") if c in modules]
        return [TraceStep("denoising", expert, peak) for expert in experts]


def _has_condition_channels(modules) -> bool:
    """Whether the transformer takes the mask and image latents beside the noisy ones (Wan2.1
    and A14B: 2 x z_dim + 4 input channels), rather than the image as the first latent frame
    (TI2V 5B, `expand_timesteps`)."""
    return modules["transformer"].config.in_channels != modules["vae"].config.z_dim


def _latent_sizes(vae, s) -> tuple[int, int, int, int]:
    spatial = vae.config.scale_factor_spatial
    return ((s.num_frames - 1) // vae.config.scale_factor_temporal + 1, s.height // spatial,
            s.width // spatial, vae.config.z_dim)


def _trace_decoding(modules, dtype, s, live) -> list[TraceStep]:
    """`Wan.decode`: cast, un-normalise, the VAE's causal decoder, frames to numpy."""
    import torch

    vae = modules["vae"]
    frames, h, w, channels = _latent_sizes(vae, s)
    latents = torch.empty(1, channels, frames, h, w)
    live.reset()
    cast = latents.to(dtype)
    video = vae.decode(cast / 1.0 + 0.0, return_dict=False)[0]
    del cast
    peak = trace_to_numpy(video, s, live)
    del video, latents
    return [TraceStep("decoding", "vae", peak)]


FAMILY = Wan()
