"""LTX-2 (`LTX2ImageToVideoPipeline`): Lightricks' 19B audio-video model, conditioned on an image
and a prompt (Gemma 3 12B), which makes a synchronised stereo sound track with the frames; and
its tiny random-weight variant.

LTX-2's video VAE compresses 32x in space and 8x in time, as LTX-Video's: sizes are multiples of
32 (the pipeline refuses others) and frame counts of the form 8k+1. The sound lasts
`num_frames / fps` seconds: its latents are laid out at 25 per second (16 kHz mels, hop 160, 4x)
and the vocoder makes 24 kHz samples from them; svlab writes it into the MP4 as AAC, trimmed or
padded with silence to the video's exact length (`svlab.media` / `processor.video_io`).

The pipeline re-compresses the conditioning image with H.264 (CRF 33) through PyAV when its
`image_crf` is not given; svlab does not depend on PyAV and passes `image_crf=0` (the image as
it is), so a run here and a direct call with `image_crf=0` give the same frames.
"""

from __future__ import annotations

from typing import Any

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.family import ModelSpec
from svlab.models.ltx2_configs import (
    GEMMA3_12B, LTX2_AUDIO_VAE, LTX2_CONNECTORS, LTX2_SCHEDULER, LTX2_TRANSFORMER, LTX2_VAE,
    LTX2_VOCODER, TINY_AUDIO_VAE, TINY_CONNECTORS, TINY_GEMMA3, TINY_TRANSFORMER, TINY_VAE,
    TINY_VOCODER,
)
from svlab.models.textvideo import (
    TextVideoFamily, check_frame_count, check_multiple, trace_to_numpy,
)
from svlab.models.tiny_tokenizers import tiny_gemma_tokenizer

MAX_SEQUENCE_LENGTH = 1024  # the pipeline's default prompt length, in tokens (tiny's too)


def _components(transformer, vae, audio_vae, connectors, vocoder, text_encoder
                ) -> dict[str, dict]:
    return {"transformer": dict(transformer), "vae": dict(vae), "audio_vae": dict(audio_vae),
            "connectors": dict(connectors), "vocoder": dict(vocoder),
            "text_encoder": dict(text_encoder), "scheduler": dict(LTX2_SCHEDULER)}


SPECS = (
    ModelSpec(
        # the diffusers example's settings: 121 frames of 512x768 at 24 fps, 30 steps, CFG 3
        id="ltx-2", family="ltx2", hub_id="Lightricks/LTX-2",
        num_frames=121, fps=24, height=512, width=768, dtype="bf16",
        description="LTX-2 (19B): 121 frames at 512x768 with a 24 kHz stereo sound track, "
                    "image and prompt",
        components=_components(LTX2_TRANSFORMER, LTX2_VAE, LTX2_AUDIO_VAE, LTX2_CONNECTORS,
                               LTX2_VOCODER, GEMMA3_12B),
        defaults=dict(num_inference_steps=30, guidance_scale=3.0),
        # the model card's 19B (video and audio streams together), Gemma 3's 12B
        published_params={"transformer": 19.0, "text_encoder": 12.0},
    ),
    ModelSpec(
        id="tiny-ltx2", family="ltx2", hub_id=None, num_frames=9, fps=24, height=64, width=64,
        description="Deterministic random-weight LTX-2 (frames and a stereo sound track) for "
                    "CPU tests and demos (built locally, never downloaded)",
        components=_components(TINY_TRANSFORMER, TINY_VAE, TINY_AUDIO_VAE, TINY_CONNECTORS,
                               TINY_VOCODER, TINY_GEMMA3),
        defaults=dict(num_inference_steps=4, guidance_scale=3.0, use_fp16=False),
    ),
)


class LTX2(TextVideoFamily):
    """Gemma 3 for the prompt (every hidden state, through the text connectors), one
    transformer over video and audio tokens, a video VAE, an audio VAE and a vocoder."""

    name = "ltx2"
    pipeline_class = "LTX2ImageToVideoPipeline"
    also_loads = ("LTX2Pipeline",)  # the published folder is saved as the text-to-video one
    weighted = ("transformer", "vae", "audio_vae", "vocoder", "connectors", "text_encoder")
    default_guidance = 3.0
    max_sequence_length = MAX_SEQUENCE_LENGTH
    audio = True
    specs = SPECS

    def build_module(self, component: str, config: dict[str, Any]):
        from diffusers import (
            AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel,
        )
        from diffusers.pipelines.ltx2 import LTX2TextConnectors
        from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
        from transformers import Gemma3Config, Gemma3ForConditionalGeneration

        if component == "transformer":
            return LTX2VideoTransformer3DModel.from_config(config)
        if component == "vae":
            return AutoencoderKLLTX2Video.from_config(config)
        if component == "audio_vae":
            return AutoencoderKLLTX2Audio.from_config(config)
        if component == "connectors":
            return LTX2TextConnectors.from_config(config)
        if component == "vocoder":
            return LTX2Vocoder.from_config(config)
        return Gemma3ForConditionalGeneration(Gemma3Config(**config))

    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        return {"scheduler": FlowMatchEulerDiscreteScheduler.from_config(
                    spec.components["scheduler"]),
                "tokenizer": tiny_gemma_tokenizer(MAX_SEQUENCE_LENGTH)}

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        spatial, temporal = _compression(spec.components)
        vae = spec.components["vae"]
        stated = (vae.get("spatial_compression_ratio"), vae.get("temporal_compression_ratio"))
        if stated != (spatial, temporal):
            raise ConfigError(
                f"{spec.id}'s registry entry is broken: its VAE states a compression of "
                f"{stated[0]}x in space and {stated[1]}x in time, its down-sampling blocks give "
                f"{spatial}x and {temporal}x (the size rule: sizes are multiples of the spatial "
                "compression, frame counts of the form temporal k + 1)")
        for name, value in (("height", height), ("width", width)):
            check_multiple(spec.id, "LTX-2", name, value, spatial)
        check_frame_count(spec.id, "LTX-2", num_frames, temporal)
        if config is not None and config.num_inference_steps < 2:
            raise ConfigError(f"num_inference_steps={config.num_inference_steps} cannot be "
                              f"taken by {spec.id}; accepted: 2 or more")

    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        return dict(
            image=image, **self.prompt_arguments(config, prompt), height=config.height,
            width=config.width, num_frames=config.num_frames, frame_rate=config.fps,
            num_inference_steps=config.num_inference_steps, image_crf=0,
            max_sequence_length=MAX_SEQUENCE_LENGTH)

    def embedding_arguments(self, embeds: tuple) -> dict[str, Any]:
        positive, positive_mask, negative, negative_mask = embeds
        return {"prompt": None, "negative_prompt": None, "prompt_embeds": positive,
                "prompt_attention_mask": positive_mask, "negative_prompt_embeds": negative,
                "negative_prompt_attention_mask": negative_mask}

    def latents_of(self, output):
        """The video latents (unpacked and denormalised by the pipeline) and the audio latents
        (denormalised and unpacked to (batch, channels, frames, mel bins))."""
        return output.frames, output.audio

    def decode(self, pipe, latents, decode_chunk_size: int):
        """As the pipeline decodes at its default `decode_timestep=0` (no decoding noise)."""
        import torch

        video_latents = latents[0]
        vae = pipe.vae
        timestep = None
        if vae.config.timestep_conditioning:
            timestep = torch.zeros(video_latents.shape[0], device=video_latents.device,
                                   dtype=vae.dtype)
        video = vae.decode(video_latents.to(vae.dtype), timestep, return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")

    def decode_audio(self, pipe, latents):
        """The audio VAE's mel spectrogram through the vocoder, as the pipeline's call does."""
        audio_latents = latents[1].to(pipe.audio_vae.dtype)
        mel = pipe.audio_vae.decode(audio_latents, return_dict=False)[0]
        samples = pipe.vocoder(mel)[0].float().cpu().numpy()
        return samples, int(pipe.vocoder.config.output_sampling_rate)

    def trace_stage(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        trace = {"conditioning": _trace_conditioning, "denoising": _trace_denoising,
                 "decoding": _trace_decoding}[stage]
        return trace(self, modules, dtype, s, live)


def _compression(components: dict) -> tuple[int, int]:
    """(pixels per latent pixel along a side, frames per latent frame) of an architecture:
    the patchify of the VAE times 2 per spatial (or temporal) downsampling block."""
    vae = components["vae"]
    kinds = vae["downsample_type"]
    spatial = vae["patch_size"] * 2 ** sum(k in ("spatial", "spatiotemporal") for k in kinds)
    temporal = vae["patch_size_t"] * 2 ** sum(k in ("temporal", "spatiotemporal") for k in kinds)
    return spatial, temporal


def _sizes(modules, s) -> tuple[int, int, int, int]:
    vae = modules["vae"]
    return ((s.num_frames - 1) // vae.temporal_compression_ratio + 1,
            s.height // vae.spatial_compression_ratio, s.width // vae.spatial_compression_ratio,
            vae.config.latent_channels)


def _audio_sizes(modules, s, fps: float = 24.0) -> tuple[int, int, int]:
    """(audio latent frames, latent mel bins, latent channels), as the pipeline lays them out
    for a clip of `num_frames` at 24 fps (the plan's settings carry no fps)."""
    audio_vae = modules["audio_vae"]
    c = audio_vae.config
    per_second = c.sample_rate / c.mel_hop_length / audio_vae.temporal_compression_ratio
    return (round(s.num_frames / fps * per_second), c.mel_bins // audio_vae.mel_compression_ratio,
            c.latent_channels)


def _sequence(modules) -> int:
    """Tokens per prompt: the pipeline pads every prompt to 1024."""
    return MAX_SEQUENCE_LENGTH


def _trace_conditioning(family, modules, dtype, s, live) -> list[TraceStep]:
    """Gemma on the prompt (and the negative prompt), every hidden state kept and stacked, the
    connectors on both, then the image through the VAE's encoder."""
    import torch

    batch = 2 if family.guidance(s) else 1
    length = _sequence(modules)
    encoder = modules["text_encoder"]
    factor = modules["connectors"].config.text_proj_in_factor
    embeds = []
    for _ in range(batch):
        ids = torch.zeros(1, length, dtype=torch.long)
        # no padding mask: building one reads its values, which meta tensors have not (its
        # bytes, length x length booleans, are nothing beside the hidden states)
        hidden = encoder(input_ids=ids, output_hidden_states=True).hidden_states
        # the trace runs three of Gemma's layers (`fewer_blocks`); the pipeline stacks all of
        # its hidden states, the embeddings' and each layer's, held together until stacked
        states = [torch.empty_like(hidden[-1]) for _ in range(factor - len(hidden))]
        stacked = torch.stack([*hidden, *states], dim=-1).flatten(2, 3).to(dtype)
        del hidden, states, ids
        embeds.append(stacked)
    text = TraceStep("conditioning", "text_encoder", live.peak)
    live.reset()
    prompt_embeds = torch.cat(embeds) if batch == 2 else embeds[0]
    del embeds
    mask = torch.ones(batch, length, dtype=torch.long)
    video_embeds, audio_embeds, _ = modules["connectors"](prompt_embeds, mask,
                                                          padding_side="left")
    del prompt_embeds
    connectors = TraceStep("conditioning", "connectors", live.peak)
    live.reset()
    frames, h, w, channels = _sizes(modules, s)
    image = torch.empty(1, 3, 1, s.height, s.width).to(dtype)
    encoded = modules["vae"].encode(image).latent_dist.mode().float()
    del image
    init = encoded.repeat(1, 1, frames, 1, 1)
    noise = torch.empty(1, channels, frames, h, w)
    latents = (init + noise).flatten(2).transpose(1, 2).contiguous()
    del init, noise, encoded
    vae = TraceStep("conditioning", "vae", live.peak)
    del latents, video_embeds, audio_embeds, mask
    return [text, connectors, vae]


def _trace_denoising(family, modules, dtype, s, live) -> list[TraceStep]:
    """One step's guided pass (conditional and unconditional in one batch) of the transformer
    on video and audio tokens, with what the loop keeps alive; the pipeline's further passes
    (spatio-temporal and modality guidance) run one at a time at batch 1, below this peak."""
    import torch

    batch = 2 if family.guidance(s) else 1
    frames, h, w, channels = _sizes(modules, s)
    audio_frames, mel, audio_channels = _audio_sizes(modules, s)
    transformer = modules["transformer"]
    c = transformer.config
    length = _sequence(modules)
    # the connectors' outputs, one per stream, each as wide as Gemma's hidden state
    video_embeds = torch.empty(batch, length, c.caption_channels, dtype=dtype)
    audio_embeds = torch.empty(batch, length, c.caption_channels, dtype=dtype)
    mask = torch.ones(batch, length, dtype=torch.long)
    tokens = frames * h * w
    latents = torch.empty(1, tokens, channels)
    audio = torch.empty(1, audio_frames, mel * audio_channels)
    cond = torch.empty(batch, tokens)
    live.reset()
    video_input = torch.cat([latents] * batch).to(dtype)
    audio_input = torch.cat([audio] * batch).to(dtype)
    timestep = torch.empty(batch)
    video_timestep = timestep.unsqueeze(-1) * (1 - cond)
    video_pred, audio_pred = transformer(
        hidden_states=video_input, audio_hidden_states=audio_input,
        encoder_hidden_states=video_embeds, audio_encoder_hidden_states=audio_embeds,
        timestep=video_timestep, audio_timestep=timestep, sigma=timestep,
        encoder_attention_mask=mask, audio_encoder_attention_mask=mask, num_frames=frames,
        height=h, width=w, fps=24.0, audio_num_frames=audio_frames, return_dict=False)
    video_pred, audio_pred = video_pred.float(), audio_pred.float()
    del video_input, audio_input, video_timestep
    if batch == 2:
        uncond, text = video_pred.chunk(2)
        video_pred = text + 2.0 * (text - uncond)
        uncond, text = audio_pred.chunk(2)
        audio_pred = text + 2.0 * (text - uncond)
        del uncond, text
    latents = latents + 0.1 * video_pred
    audio = audio + 0.1 * audio_pred
    step = TraceStep("denoising", "transformer", live.peak)
    del video_pred, audio_pred, latents, audio, cond, video_embeds, audio_embeds, mask
    return [step]


def _trace_decoding(family, modules, dtype, s, live) -> list[TraceStep]:
    """`LTX2.decode` (the video VAE's decoder, frames to numpy), then `decode_audio` (the audio
    VAE's decoder and the vocoder)."""
    import torch

    frames, h, w, channels = _sizes(modules, s)
    latents = torch.empty(1, channels, frames, h, w)
    live.reset()
    video = modules["vae"].decode(latents.to(dtype), None, return_dict=False)[0]
    peak = trace_to_numpy(video, s, live)
    del video, latents
    steps = [TraceStep("decoding", "vae", peak)]
    audio_frames, mel, audio_channels = _audio_sizes(modules, s)
    audio_latents = torch.empty(1, audio_channels, audio_frames, mel, dtype=dtype)
    live.reset()
    spectrogram = modules["audio_vae"].decode(audio_latents, return_dict=False)[0]
    steps.append(TraceStep("decoding", "audio_vae", live.peak))
    live.reset()
    samples = modules["vocoder"](spectrogram).float()
    steps.append(TraceStep("decoding", "vocoder", live.peak))
    del samples, spectrogram, audio_latents
    return steps


FAMILY = LTX2()
