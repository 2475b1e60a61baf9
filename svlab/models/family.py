"""The one interface a model family implements, and the spec of one named model.

A family (Stable Video Diffusion; later LTX-Video, Wan, CogVideoX) is one module with a
`Family` subclass and its `ModelSpec`s, listed in `svlab.models.registry`. Everything else is
written once, against this interface:

- building a model of the real size with random weights (tests, benchmarks, memory plans):
  `build_module`, `build_extras`;
- loading and configuring a checkpoint (`svlab.models.loader`): `pipeline_class`,
  `denoiser`, `use_sdpa`;
- running it stage by stage (`svlab.run.stages`): `call_arguments` for the pipeline call that
  encodes and denoises, `decode` for the latents;
- recovering from out-of-memory (`svlab.run.recovery`): `remedies`, in order;
- planning its memory without weights (`svlab.memory.predict`): `stages` and `trace`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from ..records import TraceStep


@dataclass(frozen=True)
class ModelSpec:
    """A named image-to-video model: where its weights come from and how it is built.

    `num_frames`, `fps`, `height` and `width` are what the model was trained to produce;
    `components` maps each pipeline component name to its architecture config (the keys of the
    published checkpoint's config files).
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

    def to_dict(self) -> dict[str, Any]:
        """The spec without its architecture, for listings."""
        return {
            "id": self.id, "family": self.family, "hub_id": self.hub_id,
            "num_frames": self.num_frames, "fps": self.fps, "height": self.height,
            "width": self.width, "description": self.description,
        }


class Family(abc.ABC):
    """What svlab must know about one family of diffusers image-to-video pipelines."""

    name: str  # the family's id, as ModelSpec.family names it
    pipeline_class: str  # the diffusers pipeline class
    denoiser: str  # the component called once per denoising step ("unet", "transformer")
    weighted: tuple[str, ...]  # components with weights, the denoiser first
    takes_prompt: bool = False  # whether the pipeline is conditioned on text too
    remedies: tuple[str, ...] = ()  # the recovery ladder, in order (see svlab.run.recovery)
    stages: tuple[str, ...] = ()  # the stages `trace` predicts, in order
    specs: tuple[ModelSpec, ...] = ()

    @abc.abstractmethod
    def build_module(self, component: str, config: dict[str, Any]):
        """A weighted component from its architecture config, with fresh (random) weights.
        Called with torch's default dtype and device already set by the caller."""

    @abc.abstractmethod
    def build_extras(self, spec: ModelSpec) -> dict[str, Any]:
        """The components without weights (scheduler, image processor, tokenizer)."""

    def check(self, spec: ModelSpec, *, height: int, width: int, num_frames: int) -> None:
        """Raise ConfigError naming a size or frame count this family's models cannot take,
        and what they accept."""

    @abc.abstractmethod
    def call_arguments(self, config, image, prompt: str | None) -> dict[str, Any]:
        """Keyword arguments of the pipeline call for `config` (without generator, output
        type and callback, which the runner adds)."""

    @abc.abstractmethod
    def decode(self, pipe, latents, decode_chunk_size: int):
        """Float frames (batch, frames, height, width, 3) in [0, 1] from the latents of
        `pipe(..., output_type="latent")`, exactly as `output_type="np"` would give them."""

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
