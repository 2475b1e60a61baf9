"""HunyuanVideo 1.5 (`HunyuanVideo15ImageToVideoPipeline`): Tencent's 8.3B image-to-video model
at 480p and 720p, conditioned on an image (SigLIP) and a prompt (Qwen2.5-VL 7B's text model,
ByT5 for quoted text), made to run on consumer GPUs; and its tiny random-weight variant.

The pipeline takes no height or width: it crops the image to the bucket of its aspect ratio
among the frame sizes of `target_size`² pixels in 16-pixel steps (640² at 480p: 480x848,
640x640, ...). svlab fits the image to the configured size first, so that size must itself be
a bucket (else the pipeline would crop again and the manifest would lie): other sizes are
errors naming the nearest bucket. Frame counts are of the form 4k+1.

The call has no step callback and sets its guidance in its `guider` component: a run here sets
the guider's scale for the call and counts the steps at the scheduler.
"""

from __future__ import annotations

import contextlib
from typing import Any

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.family import ModelSpec
from svlab.models.hunyuanvideo15_configs import (
    BYT5_SMALL_ENCODER, HY15_TRANSFORMER, HY15_TRANSFORMER_720P, HY15_VAE, QWEN25_VL_7B_TEXT,
    SIGLIP_PROCESSOR, SIGLIP_SO400M, TINY_BYT5, TINY_PROCESSOR, TINY_QWEN_TEXT, TINY_SIGLIP,
    TINY_TRANSFORMER, TINY_VAE, flow_shift,
)
from svlab.models.textvideo import TextVideoFamily, check_frame_count, trace_to_numpy
from svlab.models.tiny_tokenizers import tiny_qwen_tokenizer

PROMPT_TOKENS = 1000 + 108  # the pipeline's prompt length plus its template's cropped prefix
IMAGE_TOKENS = 729  # SigLIP so400m at 384 px: 27 x 27 patches


def _components(transformer, vae, text_encoder, text_encoder_2, image_encoder, processor,
                shift) -> dict[str, dict]:
    return {"transformer": dict(transformer), "vae": dict(vae),
            "text_encoder": dict(text_encoder), "text_encoder_2": dict(text_encoder_2),
            "image_encoder": dict(image_encoder), "feature_extractor": dict(processor),
            "scheduler": flow_shift(shift)}


_FULL = dict(num_frames=121, fps=24, dtype="bf16",
             defaults=dict(num_inference_steps=50, guidance_scale=6.0),
             published_params={"transformer": 8.3})
SPECS = (
    ModelSpec(
        id="hunyuanvideo-1.5-i2v-480p", family="hunyuanvideo15",
        hub_id="hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v", height=480, width=848,
        description="HunyuanVideo 1.5 I2V (8.3B): 121 frames at 480x848 (or another 480p "
                    "bucket), image and prompt", **_FULL,
        components=_components(HY15_TRANSFORMER, HY15_VAE, QWEN25_VL_7B_TEXT,
                               BYT5_SMALL_ENCODER, SIGLIP_SO400M, SIGLIP_PROCESSOR, 5.0),
    ),
    ModelSpec(
        id="hunyuanvideo-1.5-i2v-720p", family="hunyuanvideo15",
        hub_id="hunyuanvideo-community/HunyuanVideo-1.5-720p_i2v", height=720, width=1280,
        description="HunyuanVideo 1.5 I2V (8.3B): 121 frames at 720x1280 (or another 720p "
                    "bucket), image and prompt", **_FULL,
        components=_components(HY15_TRANSFORMER_720P, HY15_VAE, QWEN25_VL_7B_TEXT,
                               BYT5_SMALL_ENCODER, SIGLIP_SO400M, SIGLIP_PROCESSOR, 7.0),
    ),
    ModelSpec(
        id="tiny-hunyuanvideo15", family="hunyuanvideo15", hub_id=None, num_frames=9, fps=24,
        height=64, width=64,
        description="Deterministic random-weight HunyuanVideo 1.5 I2V for CPU tests and demos "
                    "(built locally, never downloaded)",
        components=_components(TINY_TRANSFORMER, TINY_VAE, TINY_QWEN_TEXT, TINY_BYT5,
                               TINY_SIGLIP, TINY_PROCESSOR, 5.0),
        defaults=dict(num_inference_steps=4, guidance_scale=6.0, use_fp16=False),
    ),
)


class HunyuanVideo15(TextVideoFamily):
    """Qwen2.5-VL's text model and ByT5 for the prompt, SigLIP for the image, a double-stream
    transformer run once per guidance branch, a causal video VAE."""

    name = "hunyuanvideo15"
    pipeline_class = "HunyuanVideo15ImageToVideoPipeline"
    weighted = ("transformer", "vae", "text_encoder", "text_encoder_2", "image_encoder")
    default_guidance = 6.0
    max_sequence_length = PROMPT_TOKENS
    specs = SPECS

    def build_module(self, component: str, config: dict[str, Any]):
        from diffusers import AutoencoderKLHunyuanVideo15, HunyuanVideo15Transformer3DModel
        from transformers import (
            Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, SiglipVisionConfig, SiglipVisionModel,
            T5Config, T5EncoderModel,
        )

        if component == "transformer":
            return HunyuanVideo15Transformer3DModel.from_config(config)
        if component == "vae":
            return AutoencoderKLHunyuanVideo15.from_config(config)
        if component == "text_encoder":
            return Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(**config))
        if component == "text_encoder_2":
            return T5EncoderModel(T5Config(**config))
        return SiglipVisionModel(SiglipVisionConfig(**config))

    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        from diffusers import FlowMatchEulerDiscreteScheduler
        from diffusers.guiders import ClassifierFreeGuidance
        from transformers import ByT5Tokenizer, SiglipImageProcessor

        parts = spec.components
        return {"scheduler": FlowMatchEulerDiscreteScheduler.from_config(parts["scheduler"]),
                "tokenizer": tiny_qwen_tokenizer(PROMPT_TOKENS),
                "tokenizer_2": ByT5Tokenizer(),
                "guider": ClassifierFreeGuidance(guidance_scale=spec.defaults["guidance_scale"]),
                "feature_extractor": SiglipImageProcessor(**parts["feature_extractor"])}

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        transformer, vae = spec.components["transformer"], spec.components["vae"]
        patch = vae["spatial_compression_ratio"] * transformer["patch_size"]
        target = transformer["target_size"]
        if target % patch:
            raise ConfigError(
                f"{spec.id}'s registry entry is broken: its target_size {target} is not a "
                f"multiple of the VAE's {patch}-pixel latent patch (the size rule: frames are "
                f"buckets of {target}² pixels in {patch}-pixel steps)")
        bucket = nearest_bucket(height, width, target, patch)
        if bucket != (height, width):
            raise ConfigError(
                f"{height}x{width} cannot be taken by {spec.id}: HunyuanVideo 1.5 crops the "
                f"image to a bucket of {target}x{target} pixels' area in {patch}-pixel steps; "
                f"nearest: height={bucket[0]} width={bucket[1]}")
        check_frame_count(spec.id, "HunyuanVideo 1.5", num_frames,
                          vae["temporal_compression_ratio"])

    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        return dict(image=image, prompt=prompt or "", negative_prompt=config.negative_prompt,
                    num_frames=config.num_frames,
                    num_inference_steps=config.num_inference_steps)

    @contextlib.contextmanager
    def calling(self, pipe, config, on_step_end):
        """The guider at the run's scale for the call, and each scheduler step reported (the
        pipeline's call takes no step callback)."""
        guider, scheduler = pipe.guider, pipe.scheduler
        scale, step = guider.guidance_scale, scheduler.step
        counted = [0]

        def stepping(*args, **kwargs):
            out = step(*args, **kwargs)
            on_step_end(pipe, counted[0], None, {})
            counted[0] += 1
            return out

        guider.guidance_scale = self.guidance_scale(config)
        scheduler.step = stepping
        try:
            yield {}
        finally:
            guider.guidance_scale = scale
            del scheduler.step  # the class's method again

    def encode_prompt(self, pipe, config, prompt: str | None) -> dict[str, Any]:
        import torch

        device, dtype = pipe._execution_device, pipe.transformer.dtype
        with torch.no_grad():
            embeds, mask, embeds_2, mask_2 = pipe.encode_prompt(
                prompt=prompt or "", device=device, dtype=dtype)
            arguments = {"prompt": None, "prompt_embeds": embeds, "prompt_embeds_mask": mask,
                         "prompt_embeds_2": embeds_2, "prompt_embeds_mask_2": mask_2}
            if self.guidance(config):
                embeds, mask, embeds_2, mask_2 = pipe.encode_prompt(
                    prompt=config.negative_prompt, device=device, dtype=dtype)
                arguments.update(
                    negative_prompt=None, negative_prompt_embeds=embeds,
                    negative_prompt_embeds_mask=mask, negative_prompt_embeds_2=embeds_2,
                    negative_prompt_embeds_mask_2=mask_2)
        return arguments

    def guidance(self, settings) -> bool:
        scale = settings.guidance_scale
        return (self.default_guidance if scale is None else scale) != 1

    def decode(self, pipe, latents, decode_chunk_size: int):
        """As the pipeline decodes: unscale, the VAE's decoder, to numpy."""
        vae = pipe.vae
        video = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor,
                           return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")

    def trace_stage(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        trace = {"conditioning": _trace_conditioning, "denoising": _trace_denoising,
                 "decoding": _trace_decoding}[stage]
        return trace(self, modules, dtype, s, live)


def nearest_bucket(height: int, width: int, target: int, patch: int) -> tuple[int, int]:
    """The frame size the pipeline crops a `height` x `width` image to: the bucket of the
    nearest aspect ratio among sizes of about `target`² pixels (its own `generate_crop_size_list`
    and `get_closest_ratio`, restated here so that checking a size imports no library)."""
    patches = round((target / patch) ** 2)
    buckets, wp, hp = [], patches, 1
    while wp > 0:
        if max(wp, hp) / min(wp, hp) <= 4.0:
            buckets.append((wp * patch, hp * patch))
        if (hp + 1) * wp <= patches:
            hp += 1
        else:
            wp -= 1
    ratios = [round(h / w, 5) for h, w in buckets]
    aspect = height / width
    fitting = [(i, r - aspect) for i, r in enumerate(ratios)
               if (r - aspect <= 0 if aspect >= 1 else r - aspect >= 0)]
    return buckets[min(fitting, key=lambda pair: abs(pair[1]))[0]]


def _latent_sizes(modules, s) -> tuple[int, int, int, int]:
    vae = modules["vae"]
    c = vae.config
    return ((s.num_frames - 1) // c.temporal_compression_ratio + 1,
            s.height // c.spatial_compression_ratio, s.width // c.spatial_compression_ratio,
            c.latent_channels)


def _trace_conditioning(family, modules, dtype, s, live) -> list[TraceStep]:
    """SigLIP on the image, Qwen2.5-VL's text model on the prompt (and the negative prompt),
    every hidden state returned, then the image through the VAE's encoder."""
    import torch

    steps = []
    encoder = modules["image_encoder"]
    side = encoder.config.image_size
    pixels = torch.empty(1, 3, side, side, dtype=dtype)
    image_embeds = encoder(pixel_values=pixels).last_hidden_state
    del pixels
    steps.append(TraceStep("conditioning", "image_encoder", live.peak))
    live.reset()
    embeds = []
    for _ in range(2 if family.guidance(s) else 1):
        ids = torch.zeros(1, PROMPT_TOKENS, dtype=torch.long)
        # no padding mask: building one reads its values, which meta tensors have not
        hidden = modules["text_encoder"](input_ids=ids, output_hidden_states=True).hidden_states
        embeds.append(hidden[-3][:, 108:])
        del hidden, ids
    steps.append(TraceStep("conditioning", "text_encoder", live.peak))
    live.reset()
    frames, h, w, channels = _latent_sizes(modules, s)
    image = torch.empty(1, 3, 1, s.height, s.width, dtype=dtype)
    latents = modules["vae"].encode(image).latent_dist.mode()
    del image
    condition = latents.repeat(1, 1, frames, 1, 1)
    mask = torch.zeros(1, 1, frames, h, w, dtype=dtype)
    steps.append(TraceStep("conditioning", "vae", live.peak))
    del latents, condition, mask, embeds, image_embeds
    return steps


def _trace_denoising(family, modules, dtype, s, live) -> list[TraceStep]:
    """One step: the transformer on the prompt, then (with guidance) on the negative prompt
    while the first prediction is held, the guidance and the Euler update."""
    import torch

    transformer = modules["transformer"]
    c = transformer.config
    frames, h, w, channels = _latent_sizes(modules, s)
    prompts = 2 if family.guidance(s) else 1
    embeds = [torch.empty(1, PROMPT_TOKENS - 108, c.text_embed_dim, dtype=dtype)
              for _ in range(prompts)]
    masks = [torch.ones(1, PROMPT_TOKENS - 108, dtype=dtype) for _ in range(prompts)]
    glyphs = [torch.empty(1, 256, c.text_embed_2_dim, dtype=dtype) for _ in range(prompts)]
    glyph_masks = [torch.zeros(1, 256, dtype=dtype) for _ in range(prompts)]
    image_embeds = torch.empty(1, IMAGE_TOKENS, c.image_embed_dim, dtype=dtype)
    latents = torch.empty(1, channels, frames, h, w, dtype=dtype)
    condition = torch.empty(1, channels, frames, h, w, dtype=dtype)
    mask = torch.empty(1, 1, frames, h, w, dtype=dtype)
    live.reset()
    model_input = torch.cat([latents, condition, mask], dim=1)
    timestep = torch.empty(1, dtype=dtype)
    predictions = []
    for i in range(prompts):
        predictions.append(_transformer_pass(transformer, model_input, timestep, embeds[i],
                                             masks[i], glyphs[i], image_embeds))
    noise_pred = predictions[0]
    if prompts == 2:
        noise_pred = predictions[1] + 6.0 * (predictions[0] - predictions[1])
    del predictions, model_input
    latents = (latents.float() + 0.1 * noise_pred.float()).to(dtype)
    step = TraceStep("denoising", "transformer", live.peak)
    del noise_pred, latents, condition, mask, embeds, masks, glyphs, glyph_masks, image_embeds
    return [step]


def _transformer_pass(transformer, hidden_states, timestep, text, text_mask, glyphs,
                      image_embeds):
    """The transformer's forward as diffusers 0.42 writes it, for meta tensors: its forward
    reorders the text, glyph and image tokens by their masks' values (valid tokens first, by
    boolean indexing), which meta tensors cannot do; the reordered sequence has the same length
    (image, glyph and text tokens together), so the same tensors of the same sizes are made
    here by concatenating them in order."""
    import torch

    batch, _, frames, height, width = hidden_states.shape
    rotary = transformer.rope(hidden_states)
    temb = transformer.time_embed(timestep, timestep_r=None)
    hidden_states = transformer.x_embedder(hidden_states)
    text = transformer.context_embedder(text, timestep, text_mask)
    text = text + transformer.cond_type_embed(torch.zeros_like(text[:, :, 0], dtype=torch.long))
    glyphs = transformer.context_embedder_2(glyphs)
    glyphs = glyphs + transformer.cond_type_embed(
        torch.ones_like(glyphs[:, :, 0], dtype=torch.long))
    image = transformer.image_embedder(image_embeds)
    image = image + transformer.cond_type_embed(
        2 * torch.ones_like(image[:, :, 0], dtype=torch.long))
    context = torch.cat([image, glyphs, text], dim=1)
    mask = torch.ones(batch, context.shape[1], dtype=torch.bool)
    del image, glyphs, text
    for block in transformer.transformer_blocks:
        hidden_states, context = block(hidden_states, context, temb, mask, rotary)
    hidden_states = transformer.proj_out(transformer.norm_out(hidden_states, temb))
    return hidden_states.reshape(batch, frames, height, width, -1).permute(0, 4, 1, 2, 3)


def _trace_decoding(family, modules, dtype, s, live) -> list[TraceStep]:
    """`HunyuanVideo15.decode`: unscale, the VAE's causal decoder, frames to numpy."""
    import torch

    frames, h, w, channels = _latent_sizes(modules, s)
    latents = torch.empty(1, channels, frames, h, w, dtype=dtype)
    live.reset()
    video = modules["vae"].decode(latents / 1.0, return_dict=False)[0]
    peak = trace_to_numpy(video, s, live)
    del video, latents
    return [TraceStep("decoding", "vae", peak)]


FAMILY = HunyuanVideo15()
