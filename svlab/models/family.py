"""The one interface a model family implements, and the spec of one named model.

A family (Stable Video Diffusion, LTX-Video, Wan, CogVideoX) is one module with a
`Family` subclass and its `ModelSpec`s, listed in `svlab.models.registry`. Everything else is
written once, against this interface:

- building a model of the real size with random weights (tests, benchmarks, memory plans):
  `build_module`, `build_extras`;
- loading and configuring a checkpoint (`svlab.models.loader`): `pipeline_class`,
  `denoiser`, `use_sdpa`;
- running it stage by stage (`svlab.run.stages`): `call_arguments` for the pipeline call that
  encodes and denoises, `decode` for the latents;
- recovering from out-of-memory (`svlab.run.recovery`): `remedies`, in order;
- planning its memory without weights (`svlab.memory.predict`): `stages` and `trace`;
- the step-caching methods it can take (`cache_methods`, applied by svlab.models.caching);
- the memory options it can take (`options`: VAE tiling, layerwise casting, freeing the text
  encoder, ...), which the loader applies and the planner weighs.
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass, field
from typing import Any

from svlab.core.records import TraceStep


@dataclass(frozen=True)
class ModelSpec:
    """A named image-to-video model: where its weights come from and how it is built.

    `num_frames`, `fps`, `height` and `width` are what the model was trained to produce;
    `components` maps each pipeline component name to its architecture config (the keys of the
    published checkpoint's config files). `dtype` is the half precision the model is run in on
    a GPU ("fp16", or "bf16" for the transformer models, which overflow in fp16). `defaults`
    are the settings a run of this model takes unless told otherwise (steps, guidance, the
    size and frame count above), layered over the profile's (`svlab.run.settings`).
    `weights` names the folder, inside `svlab/models/weights/`, of weights that ship with the
    package (svlab's own trained `mini`): such a model needs no download and is never built.
    `published_params` are the parameter counts the publishers give per component, in
    billions: whole numbers are the nominal sizes of the model names ("2B", "14B"), others
    counts to two decimals; the tests check the architecture against them.
    """

    id: str
    family: str
    hub_id: str | None
    num_frames: int
    fps: int
    height: int
    width: int
    description: str
    components: dict[str, dict] = field(hash=False, repr=False)
    dtype: str = "fp16"
    defaults: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    published_params: dict[str, float] = field(default_factory=dict, hash=False, repr=False)
    weights: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec without its architecture, for listings."""
        return {
            "id": self.id, "family": self.family, "hub_id": self.hub_id,
            "num_frames": self.num_frames, "fps": self.fps, "height": self.height,
            "width": self.width, "dtype": self.dtype, "description": self.description,
            "defaults": dict(self.defaults),
        }


class Family(abc.ABC):
    """What svlab must know about one family of diffusers image-to-video pipelines."""

    name: str  # the family's id, as ModelSpec.family names it
    pipeline_class: str  # the diffusers pipeline class
    denoiser: str  # the component called once per denoising step ("unet", "transformer")
    weighted: tuple[str, ...]  # components with weights, the denoiser first
    takes_prompt: bool = False  # whether the pipeline is conditioned on text too
    text_encoder: str | None = None  # the component `free_text_encoder` frees, if any
    also_loads: tuple[str, ...] = ()  # other pipeline classes whose folders this one loads
    remedies: tuple[str, ...] = ()  # the recovery ladder, in order (see svlab.run.recovery)
    stages: tuple[str, ...] = ()  # the stages `trace` predicts, in order
    options: frozenset[str] = frozenset()  # memory options it takes (svlab.core.config.MEMORY_OPTIONS)
    xformers: bool = True  # whether the pipeline's attention can run on xFormers
    # submodules ("vae.decoder") called once per chunk of frames, whose steady calls the
    # memory planner replays instead of tracing again (svlab.memory.tracing.replaying)
    repeated: tuple[str, ...] = ()
    # the pipeline's methods that encode the conditioning (image, prompt), deterministic in
    # their arguments: runs of one input may share their results (svlab.work.sweep.reuse)
    conditioning: tuple[str, ...] = ()
    specs: tuple[ModelSpec, ...] = ()
    # step-caching methods it takes (svlab.core.config.CACHE_METHODS; svlab.models.caching)
    cache_methods: tuple[str, ...] = ()
    audio: bool = False  # whether the pipeline makes a sound track beside the frames (LTX-2)
    # whether one video can be split over several processes (svlab.run.parallel_run) by the
    # context-parallel plan (`_cp_plan`) the denoiser's diffusers class declares
    context_parallel: bool = False

    @abc.abstractmethod
    def build_module(self, component: str, config: dict[str, Any]):
        """A weighted component from its architecture config, with fresh (random) weights.
        Called with torch's default dtype and device already set by the caller."""

    @abc.abstractmethod
    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        """The components without weights (scheduler, image processor, tokenizer)."""

    def weighted_of(self, spec: ModelSpec) -> tuple[str, ...]:
        """The weighted components `spec` has, the denoiser first (a family's models may lack
        some: Wan2.2 has no image encoder, only A14B a second expert)."""
        return tuple(c for c in self.weighted if c in spec.components)

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int,
              config=None) -> None:
        """Raise ConfigError naming a size or frame count this family's models cannot take,
        and what they accept; with `config` (a VideoConfig), also a family-specific setting
        the model cannot honour."""

    @abc.abstractmethod
    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        """Keyword arguments of the pipeline call for `config` (without generator, output
        type and callback, which the runner adds)."""

    @contextlib.contextmanager
    def calling(self, pipe, config, on_step_end):
        """Around the pipeline call of a run with `config`: yields the call's keyword arguments
        that report each denoising step to `on_step_end(pipe, i, t, kwargs)`. Most pipelines
        take diffusers' `callback_on_step_end`; a family whose pipeline does not (or that must
        set some per-call state on the pipeline, its guider's scale) overrides this."""
        yield {"callback_on_step_end": on_step_end}

    def latents_of(self, output):
        """What `unpack` and `decode` take from the output of `pipe(..., output_type="latent")`:
        its `frames` (the latents); a family with sound returns the audio latents too."""
        return output.frames

    def decode_audio(self, pipe, latents):
        """(float32 samples of shape (channels, samples) in [-1, 1], sample rate) from the
        latents of `latents_of`, exactly as the pipeline's own call returns its audio; None for
        the families without sound."""
        return None

    def unpack(self, pipe, latents, config):
        """The latents of `pipe(..., output_type="latent")` as `decode` takes them. Some
        pipelines return packed tokens whose video shape only the call's settings tell."""
        return latents

    def encode_prompt(self, pipe, config, prompt: str | None) -> dict[str, Any]:
        """The text encoder's output as keyword arguments of the pipeline call (replacing the
        prompt and negative prompt of `call_arguments`), computed by the pipeline's own
        `encode_prompt`, so that a run with `free_text_encoder` gives the same frames. Only
        families with a `text_encoder` implement it."""
        raise NotImplementedError(f"{self.name} has no text encoder")

    def guidance(self, settings) -> bool:
        """Whether a run with `settings` (a VideoConfig or a PlanSettings) uses classifier-free
        guidance, i.e. runs the denoiser on a conditional and an unconditional input."""
        return settings.max_guidance_scale > 1

    @abc.abstractmethod
    def decode(self, pipe, latents, decode_chunk_size: int):
        """Float frames (batch, frames, height, width, 3) in [0, 1] from the latents of
        `pipe(..., output_type="latent")`, exactly as `output_type="np"` would give them."""

    def sequence_length(self, spec: ModelSpec, *, height: int, width: int,
                        num_frames: int) -> int:
        """The denoiser's video tokens for this size, which context parallelism splits evenly
        over the processes. Only families with `context_parallel` implement it."""
        raise NotImplementedError(f"{self.name} has no context-parallel plan")

    def use_sdpa(self, pipe) -> None:
        """Route attention through PyTorch's scaled_dot_product_attention."""

    @abc.abstractmethod
    def trace(self, stage: str, modules: dict[str, Any], dtype, settings,
              live) -> list[TraceStep]:
        """The traced steps of `stage` on meta-device `modules` for `settings` (a
        `svlab.memory.predict.PlanSettings`). `live` counts the bytes of tensors alive:
        `live.reset()` starts a step, `live.peak` is its most since."""

    @abc.abstractmethod
    def trace_key(self, stage: str, settings) -> tuple:
        """The settings `stage`'s trace depends on, so traces are reused across candidates."""
