"""One model run of a clip, stage by stage: the one place where settings become a model run.

    latents = denoise(pipe, family, image, prompt, config, tracker=tracker)   # encode + denoise
    video = decode(pipe, family, latents, decode_chunk_size)                 # float frames
    frames = to_uint8(video[0])

`denoise` makes the family's pipeline call with `output_type="latent"`, timed as the family's
conditioning stage (image and text encoding) until the denoiser's first call and as
"denoising" from then on; `decode` turns the latents into frames on its own, so that a decoding
failure can be retried without denoising again. With `free_text_encoder`, the prompt is encoded
by the pipeline's own `encode_prompt` first and the text encoder leaves the device before the
call, which then takes the embeddings: the same frames, without the encoder's weights beside
the denoiser. With `cache`, the denoiser reuses work between steps during the call
(svlab.models.caching). The generation service (through the recovery
ladder), the memory measurements, the GPU check and the tests all run models through here.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from svlab.memory import StageTracker
from svlab.models import Family
from svlab.models.caching import step_cache
from svlab.core.records import Audio

Callback = Callable[[dict[str, Any]], None]


def denoise(pipe, family: Family, image, prompt: str | None, config, *,
            tracker: StageTracker, callback: Callback | None = None):
    """Latents of one clip (the pipeline's `output_type="latent"`), with the progress of each
    denoising step sent to `callback` (an exception it raises ends the run there)."""
    import torch

    steps = config.num_inference_steps
    # A text bar, cleared when done: a notebook widget would be closed too, and a saved
    # notebook would then hold a widget whose model is gone ("model not found" on reopening).
    bar = tqdm(total=steps, desc="denoising", unit="step", leave=False)

    def on_step_end(pipeline, i, t, kwargs):
        bar.update(1)
        if callback is not None:
            callback({"stage": "denoising", "step": i + 1, "steps": steps})
        return {}

    arguments = family.call_arguments(config, image, prompt)
    try:
        with encoding_then_denoising(tracker, family.stages[0], getattr(pipe, family.denoiser)):
            if config.free_text_encoder and family.text_encoder is not None:
                arguments.update(encode_then_free(pipe, family, config, prompt))
            with family.calling(pipe, config, on_step_end) as progress, \
                    step_cache(pipe, family, config.cache, config.cache_threshold):
                output = pipe(
                    **arguments,
                    generator=torch.Generator("cpu").manual_seed(config.seed),
                    output_type="latent",
                    **progress,
                )
            return family.unpack(pipe, family.latents_of(output), config)
    finally:
        bar.close()


def encode_then_free(pipe, family: Family, config, prompt: str | None) -> dict[str, Any]:
    """The prompt's embeddings as call arguments, made on the pipeline's device, after which the
    text encoder goes back to CPU memory (it returns for the next prompt). Where an offload
    mode places the encoder (accelerate's or diffusers' hooks), that mode moves it instead."""
    encoder = getattr(pipe, family.text_encoder)
    managed = hasattr(encoder, "_hf_hook") or hasattr(encoder, "_diffusers_hook")
    if not managed:
        encoder.to(pipe.device)
    embeddings = family.encode_prompt(pipe, config, prompt)
    if not managed:
        encoder.to("cpu")
    return embeddings


def decode(pipe, family: Family, latents, decode_chunk_size: int) -> np.ndarray:
    """Float frames (batch, frames, height, width, 3) in [0, 1] from `denoise`'s latents,
    exactly as the pipeline's `output_type="np"` gives them."""
    import torch

    with torch.no_grad():
        frames = family.decode(pipe, latents, decode_chunk_size)
    pipe.maybe_free_model_hooks()  # with model offload, send the VAE back to the CPU
    return frames


def decode_audio(pipe, family: Family, latents):
    """The clip's sound as `Audio` (float32 samples, channels first, and their rate) from
    `denoise`'s latents, exactly as the pipeline's own call gives it; None for a family without
    sound."""
    import torch

    if not family.audio:
        return None
    with torch.no_grad():
        samples, rate = family.decode_audio(pipe, latents)
    pipe.maybe_free_model_hooks()
    return Audio(samples=samples, sample_rate=int(rate))


def to_uint8(video: np.ndarray) -> np.ndarray:
    """The same rounding as diffusers' `numpy_to_pil`, so frames match a direct call."""
    return (video * 255).round().astype(np.uint8)


@contextlib.contextmanager
def encoding_then_denoising(tracker: StageTracker, encoding: str, denoiser) -> Iterator[None]:
    """Measure a pipeline call as stage `encoding` until the denoiser's first call and as
    "denoising" from then on: the split of the call that its own API does not expose."""
    with contextlib.ExitStack() as stages:
        stages.enter_context(tracker.stage(encoding))

        def on_first_call(module, args):
            handle.remove()
            stages.close()
            stages.enter_context(tracker.stage("denoising"))

        handle = denoiser.register_forward_pre_hook(on_first_call)
        try:
            yield
        finally:
            handle.remove()
