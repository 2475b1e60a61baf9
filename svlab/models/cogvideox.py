"""CogVideoX (`CogVideoXImageToVideoPipeline`): CogVideoX-5B-I2V of THUDM/Zhipu AI, conditioned
on an image and a prompt (T5 XXL), and its tiny random-weight variant.

The 5B-I2V transformer learned its positional embeddings for one frame size (480x720), so it
takes no other; frame counts are of the form 4k+1 (it was trained on 49).
"""

from __future__ import annotations

from typing import Any

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.cogvideox_configs import (
    COG_SCHEDULER, COG_TRANSFORMER, COG_VAE, TEXT_ENCODER, TINY_TEXT_ENCODER,
    TINY_TRANSFORMER, TINY_VAE,
)
from svlab.models.family import ModelSpec
from svlab.models.textvideo import (
    TextVideoFamily, check_frame_count, check_multiple, tiny_tokenizer, trace_text_encoding,
    trace_to_numpy,
)

MAX_SEQUENCE_LENGTH = 226  # the transformer's max_text_seq_length: the prompt's tokens


def _components(transformer, vae, text_encoder) -> dict[str, dict]:
    return {"transformer": dict(transformer), "vae": dict(vae),
            "text_encoder": dict(text_encoder), "scheduler": dict(COG_SCHEDULER)}


SPECS = (
    ModelSpec(
        id="cogvideox-5b-i2v", family="cogvideox", hub_id="THUDM/CogVideoX-5b-I2V",
        num_frames=49, fps=8, height=480, width=720, dtype="bf16",
        description="CogVideoX-5B-I2V: 49 frames at 480x720 (its only size), image and prompt",
        components=_components(COG_TRANSFORMER, COG_VAE, TEXT_ENCODER),
        defaults=dict(num_inference_steps=50, guidance_scale=6.0),
        published_params={"transformer": 5.0, "text_encoder": 4.76},
    ),
    ModelSpec(
        id="tiny-cogvideox", family="cogvideox", hub_id=None, num_frames=9, fps=8, height=64,
        width=64, description="Deterministic random-weight CogVideoX-I2V for CPU tests and "
                              "demos (built locally, never downloaded)",
        components=_components(TINY_TRANSFORMER, TINY_VAE, TINY_TEXT_ENCODER),
        defaults=dict(num_inference_steps=4, guidance_scale=6.0, use_fp16=False),
    ),
)


class CogVideoX(TextVideoFamily):
    """T5 XXL for the prompt, one transformer over text and video tokens together, a causal
    video VAE that decodes two latent frames at a time."""

    name = "cogvideox"
    pipeline_class = "CogVideoXImageToVideoPipeline"
    weighted = ("transformer", "vae", "text_encoder")
    default_guidance = 6.0
    max_sequence_length = MAX_SEQUENCE_LENGTH
    conditioning = ("encode_prompt",)  # T5; the image latents are sampled with the seed
    specs = SPECS
    cache_methods = ("first_block", "taylorseer", "pyramid_attention")  # tested on the tiny model

    def build_module(self, component: str, config: dict[str, Any]):
        from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
        from transformers import T5Config, T5EncoderModel

        if component == "transformer":
            return CogVideoXTransformer3DModel.from_config(config)
        if component == "vae":
            return AutoencoderKLCogVideoX.from_config(config)
        return T5EncoderModel(T5Config(**config))

    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        from diffusers import CogVideoXDDIMScheduler

        return {"scheduler": CogVideoXDDIMScheduler.from_config(spec.components["scheduler"]),
                "tokenizer": tiny_tokenizer(MAX_SEQUENCE_LENGTH)}

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        transformer, vae = spec.components["transformer"], spec.components["vae"]
        scale = 2 ** (len(vae["block_out_channels"]) - 1)
        if transformer["use_learned_positional_embeddings"]:
            size = (transformer["sample_height"] * scale, transformer["sample_width"] * scale)
            if (height, width) != size:
                raise ConfigError(
                    f"{height}x{width} cannot be taken by {spec.id}: its learned positional "
                    f"embeddings fix the frame size; accepted: height={size[0]} "
                    f"width={size[1]}")
        else:
            step = scale * transformer["patch_size"]
            for name, value in (("height", height), ("width", width)):
                check_multiple(spec.id, "CogVideoX", name, value, step)
        check_frame_count(spec.id, "CogVideoX", num_frames, vae["temporal_compression_ratio"])

    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        return dict(
            image=image, **self.prompt_arguments(config, prompt), height=config.height,
            width=config.width, num_frames=config.num_frames,
            num_inference_steps=config.num_inference_steps,
            max_sequence_length=MAX_SEQUENCE_LENGTH)

    def unpack(self, pipe, latents, config):
        """Without the frames CogVideoX 1.5 pads to a multiple of its temporal patch."""
        patch = pipe.transformer.config.patch_size_t
        frames = (config.num_frames - 1) // pipe.vae_scale_factor_temporal + 1
        padding = patch - frames % patch if patch is not None and frames % patch else 0
        return latents[:, padding:]

    def decode(self, pipe, latents, decode_chunk_size: int):
        """`decode_latents` and the postprocessing, as the pipeline runs them."""
        video = pipe.decode_latents(latents.to(pipe.vae.dtype))
        return pipe.video_processor.postprocess_video(video=video, output_type="np")

    def trace_stage(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        if stage == "conditioning":
            return self._trace_conditioning(modules, dtype, s, live)
        if stage == "denoising":
            return self._trace_denoising(modules, dtype, s, live)
        return _trace_decoding(modules, dtype, s, live)

    def _trace_conditioning(self, modules, dtype, s, live) -> list[TraceStep]:
        """T5 on the prompt(s), the VAE's encoder on the image, the first latents."""
        import torch

        batch = 2 if self.guidance(s) else 1
        embeds, text = trace_text_encoding(modules["text_encoder"], MAX_SEQUENCE_LENGTH, batch,
                                           dtype, live)
        prompt_embeds = torch.cat(embeds) if batch == 2 else embeds[0]
        del embeds
        live.reset()
        frames, h, w, channels = _latent_sizes(modules, s)
        image = torch.empty(1, 3, 1, s.height, s.width, dtype=dtype)
        encoded = modules["vae"].encode(image).latent_dist.sample().to(dtype)
        del image
        encoded = encoded.permute(0, 2, 1, 3, 4) * 0.7
        padding = torch.zeros(1, frames - 1, channels, h, w, dtype=dtype)
        image_latents = torch.cat([encoded, padding], dim=1)
        latents = torch.empty(1, frames, channels, h, w, dtype=dtype) * 1.0
        del encoded, padding
        vae = TraceStep("conditioning", "vae", live.peak)
        del image_latents, latents, prompt_embeds
        return [text, vae]

    def _trace_denoising(self, modules, dtype, s, live) -> list[TraceStep]:
        """One step: the batch of conditional and unconditional inputs through the transformer
        with the rotary embeddings, the guidance and the DDIM update."""
        import torch

        from diffusers.models.embeddings import get_3d_rotary_pos_embed

        transformer = modules["transformer"]
        config = transformer.config
        batch = 2 if self.guidance(s) else 1
        frames, h, w, channels = _latent_sizes(modules, s)
        prompt_embeds = torch.empty(batch, MAX_SEQUENCE_LENGTH, config.text_embed_dim,
                                    dtype=dtype)
        latents = torch.empty(1, frames, channels, h, w, dtype=dtype)
        image_latents = torch.empty(1, frames, channels, h, w, dtype=dtype)
        rotary = get_3d_rotary_pos_embed(
            embed_dim=config.attention_head_dim, crops_coords=((0, 0), (h // 2, w // 2)),
            grid_size=(h // config.patch_size, w // config.patch_size), temporal_size=frames,
            device=torch.device("meta")) if config.use_rotary_positional_embeddings else None
        live.reset()
        model_input = torch.cat([torch.cat([latents] * batch),
                                 torch.cat([image_latents] * batch)], dim=2)
        noise_pred = transformer(hidden_states=model_input, encoder_hidden_states=prompt_embeds,
                                 timestep=torch.empty(batch), image_rotary_emb=rotary,
                                 return_dict=False)[0].float()
        del model_input
        if batch == 2:
            uncond, text = noise_pred.chunk(2)
            noise_pred = uncond + 6.0 * (text - uncond)
            del uncond, text
        sample = latents.float()
        original = sample * 0.9 - noise_pred * 0.1  # v-prediction to x0, then the DDIM step
        latents = (original * 0.9 + (sample - original * 0.9) * 0.1).to(dtype)
        step = TraceStep("denoising", "transformer", live.peak)
        del noise_pred, sample, original, latents, image_latents, prompt_embeds, rotary
        return [step]


def _latent_sizes(modules, s) -> tuple[int, int, int, int]:
    vae = modules["vae"]
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    return ((s.num_frames - 1) // vae.config.temporal_compression_ratio + 1,
            s.height // scale, s.width // scale, vae.config.latent_channels)


def _trace_decoding(modules, dtype, s, live) -> list[TraceStep]:
    """`CogVideoX.decode`: to (batch, channels, frames, ...), unscale, decode, to numpy."""
    import torch

    frames, h, w, channels = _latent_sizes(modules, s)
    latents = torch.empty(1, frames, channels, h, w, dtype=dtype)
    live.reset()
    scaled = 1 / 0.7 * latents.permute(0, 2, 1, 3, 4)
    video = modules["vae"].decode(scaled).sample
    del scaled
    peak = trace_to_numpy(video, s, live)
    del video, latents
    return [TraceStep("decoding", "vae", peak)]


FAMILY = CogVideoX()
