"""What the text-conditioned transformer families (LTX-Video, Wan, CogVideoX) share: a text
encoder (T5 or umT5) run on the prompt and a negative prompt, a transformer denoiser, a video
VAE, and the memory options diffusers gives such pipelines.

Each family module subclasses `TextVideoFamily` and writes only what differs: its pipeline's
call, its decoding, and the traces of its conditioning, denoising and decoding for the memory
planner. The helpers here build the offline tokenizer of the tiny variants and trace the parts
every family runs the same way (the text encoder, turning decoded video into numpy frames).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from svlab.core.errors import ConfigError
from svlab.core.records import TraceStep
from svlab.models.family import Family

# A word-piece vocabulary for the tiny models' tokenizer, built in code (no download): T5's
# special tokens, the Metaspace word start, letters, digits and punctuation (so that any text
# tokenizes without an unknown token), and some frequent English words as single pieces.
_WORDS = ("the a an of and in on with to is are at by for from camera slowly moving light "
          "water sky sea tree trees city street red blue green white black dog cat person "
          "walks runs flies over under into video scene").split()
_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"-()"


def tiny_tokenizer(max_length: int):
    """A T5 tokenizer (SentencePiece-style Unigram, `tokenizers` backed) with a small vocabulary,
    made in code; saved with the pipeline, it loads and encodes through the pipeline's own
    code like the published tokenizers. Ids stay below `tiny_vocab_size()`."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(f"\u2581{w}", -3.0 - i / 100) for i, w in enumerate(_WORDS)]
    vocab += [(c, -8.0) for c in _CHARS] + [(f"\u2581{c}", -9.0) for c in _CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def tiny_vocab_size() -> int:
    """Rows of the tiny text encoders' embedding: room for every id of `tiny_tokenizer`."""
    return 256


def check_multiple(spec_id: str, family: str, name: str, value: int, step: int) -> None:
    """`value` (a height or width) must be a multiple of the latent patch in pixels."""
    if value % step:
        raise ConfigError(f"{name}={value} cannot be taken by {spec_id}: {family} needs a "
                          f"multiple of {step} (nearest: {max(step, round(value / step) * step)})")


def check_frame_count(spec_id: str, family: str, num_frames: int, temporal: int) -> None:
    """The video VAEs compress time by `temporal` after the first frame: counts of k*t + 1."""
    if (num_frames - 1) % temporal:
        low = (num_frames - 1) // temporal * temporal + 1
        raise ConfigError(
            f"num_frames={num_frames} cannot be taken by {spec_id}: {family} takes frame counts "
            f"of the form {temporal}k+1 (nearest: {low} or {low + temporal})")


class TextVideoFamily(Family):
    """A text encoder, a transformer denoiser and a video VAE, run by a diffusers pipeline whose
    call takes `prompt`, `negative_prompt` and `guidance_scale`."""

    denoiser = "transformer"
    takes_prompt = True
    text_encoder = "text_encoder"
    xformers = False  # these transformers dispatch attention themselves: PyTorch SDPA
    stages = ("conditioning", "denoising", "decoding")
    options = frozenset({"layerwise_casting", "vae_tiling", "vae_slicing", "free_text_encoder",
                         "group_offload"})
    # VAE tiling first: it costs the least time and is what the decoding peak needs; then the
    # text encoder off the device, then offloading, fastest first.
    remedies = ("vae_tiling", "free_text_encoder", "model_offload", "block_offload",
                "sequential_offload")
    default_guidance: float = 5.0  # the pipeline call's own default guidance_scale
    max_sequence_length: int = 512  # tokens the pipeline pads each prompt to

    def guidance(self, settings) -> bool:
        scale = settings.guidance_scale
        return (self.default_guidance if scale is None else scale) > 1

    def guidance_scale(self, config) -> float:
        return self.default_guidance if config.guidance_scale is None else config.guidance_scale

    def prompt_arguments(self, config, prompt: str | None) -> dict[str, Any]:
        """The prompt, negative prompt and guidance of the call. No prompt is the empty one
        (an unconditional run, as the negative prompt is by default)."""
        return {"prompt": prompt or "", "negative_prompt": config.negative_prompt,
                "guidance_scale": self.guidance_scale(config)}

    def encode_prompt(self, pipe, config, prompt: str | None) -> dict[str, Any]:
        import torch

        with torch.no_grad():
            embeds = pipe.encode_prompt(
                prompt=prompt or "", negative_prompt=config.negative_prompt,
                do_classifier_free_guidance=self.guidance(config),
                max_sequence_length=self.max_sequence_length, device=pipe._execution_device)
        return self.embedding_arguments(embeds)

    def embedding_arguments(self, embeds: tuple) -> dict[str, Any]:
        """`pipe.encode_prompt`'s result as call arguments (its order differs per pipeline)."""
        positive, negative = embeds
        return {"prompt": None, "negative_prompt": None, "prompt_embeds": positive,
                "negative_prompt_embeds": negative}

    def trace(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        """`trace_stage` with VAE tiling as the settings ask, and every repeated stack of
        identical blocks (transformer layers, encoder layers) cut to its first three: each
        block holds the same tensors while it runs and hands on a hidden state of the same
        size, so the peak is the same, and the trace of a 14B transformer takes a tenth of the
        time."""
        vae = modules["vae"]
        if s.vae_tiling:
            vae.enable_tiling()
        try:
            with contextlib.ExitStack() as stack:
                for name, module in modules.items():
                    if name != "vae":
                        stack.enter_context(fewer_blocks(module))
                return self.trace_stage(stage, modules, dtype, s, live)
        finally:
            vae.disable_tiling()

    def trace_stage(self, stage: str, modules, dtype, s, live) -> list[TraceStep]:
        """The traced steps of `stage` (see `Family.trace`)."""
        raise NotImplementedError

    def trace_key(self, stage: str, s) -> tuple:
        guidance = self.guidance(s)
        if stage == "conditioning":
            return (stage, s.height, s.width, s.num_frames, guidance, s.vae_tiling)
        if stage == "denoising":
            return (stage, s.height, s.width, s.num_frames, guidance, s.layerwise_casting)
        return (stage, s.height, s.width, s.num_frames, s.vae_tiling, s.device)


@contextlib.contextmanager
def fewer_blocks(module, keep: int = 3) -> Iterator[None]:
    """Every ModuleList of `module` whose blocks after the first are alike (same classes and
    parameter shapes) holds only its first `keep` blocks inside the block."""
    import torch

    cut = []
    for owner in module.modules():
        for name, child in owner.named_children():
            if (isinstance(child, torch.nn.ModuleList) and len(child) > keep
                    and len({_signature(b) for b in list(child)[1:]}) == 1):
                cut.append((owner, name, child))
    for owner, name, child in cut:
        setattr(owner, name, torch.nn.ModuleList(list(child)[:keep]))
    try:
        yield
    finally:
        for owner, name, child in cut:
            setattr(owner, name, child)


def _signature(block) -> tuple:
    return (type(block).__name__,
            tuple((n, tuple(p.shape)) for n, p in block.named_parameters()))


def trace_text_encoding(encoder, sequence_length: int, prompts: int, dtype, live,
                        *, with_mask: bool = False) -> tuple[list, TraceStep]:
    """The text encoder run once per prompt (the prompt, then the negative prompt), each
    output kept, as the pipelines' `_get_t5_prompt_embeds` does. Returns the embeddings (alive
    for the caller's later steps) and the step."""
    import torch

    outputs = []
    for _ in range(prompts):
        ids = torch.empty(1, sequence_length, dtype=torch.long)
        mask = torch.empty(1, sequence_length, dtype=torch.long)
        hidden = encoder(ids, mask)[0] if with_mask else encoder(ids)[0]
        outputs.append(hidden.to(dtype))
        del ids, mask, hidden
    return outputs, TraceStep("conditioning", "text_encoder", live.peak)


def trace_to_numpy(video, s, live) -> int:
    """Decoded video (batch, channels, frames, height, width) to float frames in [0, 1] on the
    host, as `postprocess_video(output_type="np")` does it: denormalised on the device, cast to
    float32 and handed to numpy. Returns the peak bytes seen."""
    import torch

    frames = video[0].permute(1, 0, 2, 3)
    out = (frames / 2 + 0.5).clamp(0, 1)
    if s.device == "cpu":
        out = out.permute(0, 2, 3, 1).float()  # a view when already float32
        stacked = torch.empty(out.shape, dtype=torch.float32)  # np.stack's copy
        del stacked
    peak = live.peak
    del out, frames
    return peak
