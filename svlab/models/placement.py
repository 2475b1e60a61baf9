"""Where a pipeline's weights live and how they are stored: diffusers' memory features as
loading options (see `svlab.core.config.OFFLOAD` and the memory flags of `VideoConfig`).

- offload "model" (`enable_model_cpu_offload`), "block" and "leaf" (`enable_group_offload` at
  block or leaf level, prefetching the next group on a CUDA stream), "sequential"
  (`enable_sequential_cpu_offload`);
- layerwise casting: the denoiser's weights stored in fp8 (e4m3) and cast to the compute dtype
  one layer at a time as it runs (`enable_layerwise_casting`);
- VAE tiling and slicing (`vae.enable_tiling()`, `vae.enable_slicing()`).

`svlab.models.loader` applies them as configured, the recovery ladder switches some on, and the
memory planner (`svlab.memory.predict`) predicts each.
"""

from __future__ import annotations

import logging

from svlab.models.family import Family

log = logging.getLogger(__name__)

GROUP_LEVELS = {"block": "block_level", "leaf": "leaf_level"}


def place(pipe, mode: str, device: str) -> None:
    """Put `pipe`'s weights where offload `mode` wants them on `device` (a CUDA device; on the
    CPU every mode is all-in-memory, which the caller handles)."""
    import torch

    pipe.remove_all_hooks()
    if mode == "none":
        pipe.to(device)
    elif mode == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif mode in GROUP_LEVELS:
        pipe.to("cpu")
        pipe.enable_group_offload(
            onload_device=torch.device(device), offload_device=torch.device("cpu"),
            offload_type=GROUP_LEVELS[mode], use_stream=True,
            num_blocks_per_group=1 if mode == "block" else None)
    else:
        pipe.enable_sequential_cpu_offload(device=device)


def denoisers(pipe, family: Family) -> list:
    """The denoiser and, for a two-expert model, its second expert."""
    names = [family.denoiser] + [n for n in ("transformer_2",) if n in family.weighted]
    return [m for m in (getattr(pipe, n, None) for n in names) if m is not None]


def cast_layerwise(pipe, family: Family, compute_dtype) -> None:
    """Store the denoiser's weights in fp8, computed in `compute_dtype` layer by layer."""
    import torch

    for module in denoisers(pipe, family):
        module.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn,
                                        compute_dtype=compute_dtype)


def set_vae_tiling(pipe, enabled: bool) -> None:
    pipe.vae.enable_tiling() if enabled else pipe.vae.disable_tiling()


def set_vae_slicing(pipe, enabled: bool) -> None:
    pipe.vae.enable_slicing() if enabled else pipe.vae.disable_slicing()


def unsupported(family: Family, config) -> list[str]:
    """The memory settings `config` turns on that `family` cannot take (they are then left off,
    and said so): e.g. forward chunking for a transformer, decode chunks for a video VAE."""
    wanted = {"forward_chunking": config.forward_chunking,
              "layerwise_casting": config.layerwise_casting, "vae_tiling": config.vae_tiling,
              "vae_slicing": config.vae_slicing, "free_text_encoder": config.free_text_encoder,
              "group_offload": config.offload in GROUP_LEVELS}
    return [name for name, on in wanted.items() if on and name not in family.options]
