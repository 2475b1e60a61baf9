"""Whether a model can make one video over several processes with diffusers' context
parallelism (Ulysses: each process holds every weight and a slice of the video's tokens; an
all-to-all before attention trades the token slices for head slices). Checked before any
work starts, so that a run diffusers would refuse mid-way is refused at once."""

from __future__ import annotations

from svlab.core.errors import ConfigError
from svlab.models.family import ModelSpec
from svlab.models.registry import FAMILIES, family_of


def parallel_families() -> list[str]:
    """The families svlab splits one video of (`Family.context_parallel`)."""
    return [name for name, family in FAMILIES.items() if family.context_parallel]


def check_context_parallel(spec: ModelSpec, gpus: int, *, height: int, width: int,
                           num_frames: int) -> None:
    """ConfigError naming why `spec` cannot be split over `gpus` processes: its family has no
    plan, or Ulysses cannot divide its attention heads or its video tokens evenly."""
    if gpus == 1:
        return
    family = family_of(spec)
    if not family.context_parallel:
        raise ConfigError(f"gpus={gpus} splits one video with context parallelism, which "
                          f"svlab runs for the families {', '.join(parallel_families())} only, "
                          f"not {spec.id} ({family.name}); accepted: gpus=1, or a model of "
                          f"those families")
    heads = spec.components[family.denoiser]["num_attention_heads"]
    if heads % gpus:
        raise ConfigError(f"gpus={gpus} cannot split the {heads} attention heads of {spec.id} "
                          f"evenly; accepted: a divisor of {heads}")
    tokens = family.sequence_length(spec, height=height, width=width, num_frames=num_frames)
    if tokens % gpus:
        raise ConfigError(f"gpus={gpus} cannot split the {tokens} video tokens of {spec.id} at "
                          f"{width}x{height}, {num_frames} frames evenly; accepted: a size and "
                          f"frame count whose tokens {gpus} divides, or a divisor of {tokens}")
