"""Step caching through diffusers' own hooks (`enable_cache` on a transformer's CacheMixin).

A run with `cache` set reuses part of the denoiser's work between neighbouring steps:

- `first_block` (FirstBlockCache): runs the first block; when its output changed by less than
  `threshold` since the last full step, the other blocks' cached residual is reused;
- `taylorseer` (TaylorSeer): computes the blocks' attention and feed-forward outputs every
  `cache_interval` steps and extrapolates them (Taylor series) in between;
- `pyramid_attention` (Pyramid Attention Broadcast): reuses each attention output for
  `spatial_attention_block_skip_range` calls while the timestep is in (100, 800).

The cache is switched on for the one pipeline call and off after it (`step_cache`), so a
loaded model kept between runs (svlab.run.clip.cached_loader) is never left caching.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from svlab.core.config import cache_parameter
from svlab.core.errors import ConfigError
from svlab.models.family import Family

# diffusers' TaylorSeer patterns ("^blocks.*attn") miss "blocks.0.attn1" (re.fullmatch), so
# nothing would be cached: name the blocks' attention and feed-forward layers ourselves.
_TAYLORSEER_MODULES = [r"(blocks|transformer_blocks)\.\d+\.(attn\d*|ffn?)"]


def check_cache(family: Family, method: str | None) -> None:
    """ConfigError when `family` cannot take the step-caching `method`, naming those it can."""
    if method is None or method in family.cache_methods:
        return
    accepted = ", ".join(family.cache_methods) or "none (leave cache unset)"
    raise ConfigError(f"cache={method!r} cannot run on the {family.name} family; "
                      f"accepted: {accepted}")


def cache_config(method: str, threshold: float | None, pipe):
    """diffusers' config object of `method` (one of CACHE_METHODS, checked by the config)
    with `cache_threshold` applied."""
    from diffusers import hooks

    parameter, value = cache_parameter(method, threshold)
    if method == "first_block":
        return hooks.FirstBlockCacheConfig(**{parameter: value})
    if method == "taylorseer":
        return hooks.TaylorSeerCacheConfig(**{parameter: value},
                                           cache_identifiers=_TAYLORSEER_MODULES)
    return hooks.PyramidAttentionBroadcastConfig(  # pyramid_attention
        **{parameter: value}, current_timestep_callback=lambda: pipe.current_timestep)


@contextlib.contextmanager
def step_cache(pipe, family: Family, method: str | None,
               threshold: float | None) -> Iterator[None]:
    """The family's denoiser caching with `method` inside the block; nothing at all when
    `method` is None (the frames are then those of a run without the setting)."""
    if method is None:
        yield
        return
    check_cache(family, method)
    denoiser = getattr(pipe, family.denoiser)
    denoiser.enable_cache(cache_config(method, threshold, pipe))
    try:
        yield
    finally:
        denoiser.disable_cache()
