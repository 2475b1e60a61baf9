"""Records that pass between stages, typed: what a stage measured, what the loader did, what the
recovery ladder tried, how a clip was made and what a generation returned.

They are plain dataclasses so that a reader sees every field in one place; the manifest records
them through `svlab.core.manifest.jsonable`, under the same field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # records are read by the command line before numpy is worth importing
    import numpy as np


@dataclass
class StageStats:
    """Seconds and memory of one stage. `peak_bytes` is the most memory in use at any moment
    of the stage (earlier stages' resident weights included), `added_bytes` that peak minus
    what was in use when the stage began; None where they cannot be measured."""

    seconds: float
    peak_bytes: int | None
    added_bytes: int | None


@dataclass
class ModelInfo:
    """What the loader loaded and how; the switches the recovery ladder flips update it."""

    device: str
    dtype: str
    attention: str
    offload_requested: str
    family: str | None = None
    model: str | None = None
    source: str | None = None
    path: str | None = None
    hub_id: str | None = None
    revision: str | None = None
    variant: str | None = None
    vae_dtype: str | None = None
    offload: str = "none"
    forward_chunking: bool = False
    layerwise_casting: bool = False  # denoiser weights stored in fp8
    vae_tiling: bool = False
    vae_slicing: bool = False
    free_text_encoder: bool = False  # the text encoder leaves the device after the prompt
    skipped: list[str] = field(default_factory=list)  # options the family cannot take
    compiled: bool = False
    load_seconds: float | None = None
    unload_seconds: float | None = None
    released: bool | None = None


@dataclass(frozen=True)
class RecoveryStep:
    """One rung of the recovery ladder: the failure seen in a stage and the remedy applied
    (None when no remedy was left)."""

    stage: str
    error: str
    action: str | None


@dataclass(frozen=True)
class ParallelLayout:
    """How one video was split over processes: diffusers' context parallelism with Ulysses
    attention of `ulysses_degree` over `world_size` processes talking through `backend`
    (nccl on GPUs, gloo on a CPU); rank 0 decoded, encoded and wrote."""

    world_size: int
    ulysses_degree: int
    backend: str
    method: str = "context parallelism (Ulysses)"


@dataclass
class ClipRecord:
    """How one clip was made: by the model ("model") or the fallback engine ("fallback"), with
    the model's info, the recovery steps taken and, for a fallback, why."""

    engine: str
    model_info: ModelInfo | None = None
    recovery: list[RecoveryStep] = field(default_factory=list)
    fallback_reason: str | None = None
    parallel: ParallelLayout | None = None  # None: one process made the clip


@dataclass(frozen=True)
class TraceStep:
    """One traced piece of a stage, for the memory planner: which component's weights it needs
    on the device, and the most bytes of other tensors (inputs, activations, outputs) alive at
    once while it runs. `weight_dtype` when the component runs in another dtype (an fp32 VAE
    in an fp16 pipeline)."""

    stage: str
    component: str | None
    activation_bytes: int
    weight_dtype: str | None = None


@dataclass
class Audio:
    """A clip's sound track as the model made it: float32 samples in [-1, 1] of shape
    (channels, samples) at `sample_rate` Hz, starting with the first frame."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate


@dataclass
class Clip:
    """Frames of one clip at the config's fps (before interpolation) and how they were made;
    `audio` when the model made a sound track (LTX-2)."""

    frames: np.ndarray
    record: ClipRecord
    audio: Audio | None = None


@dataclass
class GenerationResult:
    """What `svlab.generate` returns."""

    frames: np.ndarray  # uint8 (T, H, W, 3): the frames of the written video
    video_path: Path
    manifest: dict[str, Any]  # the same as the JSON file beside the video
