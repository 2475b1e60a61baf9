"""Load a pipeline the way the config says, and really unload it.

`VideoModelLoader(config)` turns the model settings of a `VideoConfig` (model, device, dtype,
attention, offload, forward chunking, compile) into a ready diffusers pipeline of the model's
family, records what it did in `info` (a `ModelInfo`), and exposes the switches the recovery
ladder flips on out-of-memory and NaN failures (`enable_forward_chunking`, `set_offload`,
`upcast_vae`).

Nothing is switched silently: an attention backend or dtype that cannot run raises, and the one
setting that has no effect (offload on a CPU, where the weights already live in CPU memory) is
logged and recorded as such in `info`.
"""

from __future__ import annotations

import gc
import logging
import time
import weakref

from svlab.core.config import OFFLOAD
from svlab.core.errors import ConfigError, ModelUnavailableError
from svlab.core.records import ModelInfo
from svlab.models import placement
from svlab.models.build import pipeline_class, quiet_libraries
from svlab.models.family import Family
from svlab.models.registry import family_by_pipeline, get_spec, is_registered
from svlab.models.resolve import FALLBACK, ResolvedModel, choose_model, resolve_model

log = logging.getLogger(__name__)

DTYPE_NAMES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


def xformers_available() -> bool:
    try:
        import xformers.ops  # noqa: F401
    except Exception:  # ImportError, or a build that does not match this torch
        return False
    return True


class VideoModelLoader:
    """Load, configure and unload one pipeline; also a context manager yielding the pipeline.

    `info` holds what was loaded and how: model id, family, source, path, revision, device,
    dtype, attention backend, offload, forward chunking, compile, load and unload seconds.
    `family` (known once loaded) says how to run the pipeline.
    """

    def __init__(self, config, *, resolved: ResolvedModel | None = None):
        self.config = config
        self.resolved = resolved
        self.pipeline = None
        self.family: Family | None = None
        self.skipped: list[str] = []  # memory settings the family cannot take, left off
        self.device = resolve_device(config.device)
        self.dtype_name = _pick_dtype(config, self.device, _half_precision(config.model))
        self.attention = _pick_attention(config.attention, self.device)
        self.info = ModelInfo(device=self.device, dtype=self.dtype_name,
                              vae_dtype=self.dtype_name, attention=self.attention,
                              offload_requested=config.offload)

    # loading -------------------------------------------------------------------------------

    def load(self):
        """Resolve the model, load it with the configured options, and return the pipeline.

        Raises ModelUnavailableError when the model cannot run here (no weights, unreadable or
        inconsistent files, a backend missing, no room on the device); any other exception is
        a bug and propagates as it is."""
        import torch

        if self.pipeline is not None:
            return self.pipeline
        start = time.perf_counter()
        resolved = self.resolved or self._resolve()
        family = resolved.family
        dtype = getattr(torch, DTYPE_NAMES[self.dtype_name])
        variant = _variant(resolved, family, self.dtype_name)
        try:
            with quiet_libraries():
                pipe = pipeline_class(family).from_pretrained(
                    resolved.path, dtype=dtype, variant=variant, local_files_only=True)
        except (OSError, ValueError, ImportError) as e:  # what unusable files raise
            raise ModelUnavailableError(
                f"cannot load {resolved.path}: {type(e).__name__}: {_first_line(e)}") from None
        self.resolved = resolved
        self.info.source, self.info.path = resolved.source, str(resolved.path)
        self.info.hub_id, self.info.revision = resolved.hub_id, resolved.revision
        self.info.variant = variant
        self.pipeline = pipe
        del pipe  # the loader holds the only reference, so unload() can free it
        self._configure(family, resolved.id)
        self.info.load_seconds = round(time.perf_counter() - start, 3)
        log.info("loaded %s from %s in %.2fs (%s, %s, attention %s, offload %s)", resolved.id,
                 resolved.path, self.info.load_seconds, self.device, self.dtype_name,
                 self.attention, self.info.offload)
        return self.pipeline

    @classmethod
    def from_pipeline(cls, config, pipeline) -> "VideoModelLoader":
        """A loader around a pipeline built in memory (random weights, for measurements),
        configured exactly as `load` configures a checkpoint."""
        family = family_by_pipeline(type(pipeline).__name__)
        if family is None:
            raise ConfigError(f"svlab runs no {type(pipeline).__name__}")
        loader = cls(config)
        loader.pipeline = pipeline
        loader._configure(family, config.model)
        return loader

    def _configure(self, family: Family, model: str) -> None:
        """Attention, placement (offload), forward chunking and compilation of the pipeline,
        as configured."""
        import torch

        self.pipeline.set_progress_bar_config(disable=True)
        self.family = family
        self.info.family, self.info.model = family.name, model
        self._set_attention()
        self.skipped = placement.unsupported(family, self.config)
        if self.skipped:
            log.warning("%s: no effect on %s, left off (it takes: %s)",
                        ", ".join(self.skipped), model, ", ".join(sorted(family.options)))
        self.info.skipped = list(self.skipped)
        if self.config.layerwise_casting and "layerwise_casting" not in self.skipped:
            placement.cast_layerwise(self.pipeline, family,
                                     getattr(torch, DTYPE_NAMES[self.dtype_name]))
            self.info.layerwise_casting = True
        if self.config.vae_tiling and "vae_tiling" not in self.skipped:
            placement.set_vae_tiling(self.pipeline, True)
            self.info.vae_tiling = True
        if self.config.vae_slicing and "vae_slicing" not in self.skipped:
            placement.set_vae_slicing(self.pipeline, True)
            self.info.vae_slicing = True
        self.info.free_text_encoder = bool(self.config.free_text_encoder
                                           and "free_text_encoder" not in self.skipped)
        try:
            self.set_offload(self.config.offload)
            out_of_memory = False
        except torch.OutOfMemoryError:
            out_of_memory = True  # unload outside the handler: its traceback holds the pipeline
        if out_of_memory:
            self.unload()
            raise ModelUnavailableError(
                f"out of memory placing {model} on {self.device} with "
                f"offload={self.config.offload!r}; offload='model', 'block' or 'sequential' "
                "needs less memory")
        if self.config.forward_chunking and "forward_chunking" not in self.skipped:
            self.enable_forward_chunking()
        if self.config.compile:
            self._compile()

    def _resolve(self) -> ResolvedModel:
        name, reason = choose_model(self.config)
        if name == FALLBACK:
            raise ModelUnavailableError(reason if self.config.model == "auto" else
                                        "model='fallback' names the fallback engine, not a "
                                        "diffusion model")
        return resolve_model(name)

    def _set_attention(self) -> None:
        if self.attention == "xformers" and not self.family.xformers:
            if self.config.attention == "xformers":
                raise ModelUnavailableError(
                    f"attention='xformers' cannot run {self.family.name}'s transformer; use "
                    "attention='sdpa' (PyTorch's fused attention) or 'auto'")
            self.attention = self.info.attention = "sdpa"
        if self.attention == "xformers":
            self.pipeline.enable_xformers_memory_efficient_attention()
        else:
            self.family.use_sdpa(self.pipeline)

    @property
    def denoiser(self):
        """The component called once per denoising step (the UNet or the transformer)."""
        return getattr(self._require_loaded(), self.family.denoiser)

    def _compile(self) -> None:
        import torch

        setattr(self.pipeline, self.family.denoiser, torch.compile(self.denoiser))
        self.info.compiled = True

    # switches the recovery ladder uses ---------------------------------------------------

    def enable_forward_chunking(self) -> None:
        """Run the denoiser's feed-forward layers one chunk at a time (less peak memory)."""
        self.denoiser.enable_forward_chunking()
        self.info.forward_chunking = True
        log.info("forward chunking enabled")

    def set_offload(self, mode: str) -> None:
        """Place the pipeline: "none" (all on the device), "model" (one whole model at a time on
        the GPU, the rest in CPU memory), "block" or "leaf" (diffusers' group offloading: one
        block, or one layer, at a time, the next prefetched on a CUDA stream) or "sequential"
        (submodule by submodule: least VRAM, slowest). Offloading is a no-op on a CPU, where
        the weights are in CPU memory already; that is logged and recorded as offload
        "none"."""
        if mode not in OFFLOAD:
            raise ConfigError(f"unknown offload {mode!r}; accepted: {', '.join(OFFLOAD)}")
        pipe = self._require_loaded()
        self.info.offload_requested = mode
        if self.device == "cpu":
            if mode != "none":
                log.info("offload=%s has no effect on the CPU: the weights are in CPU memory",
                         mode)
            pipe.to("cpu")
            mode = "none"
        else:
            placement.place(pipe, mode, self.device)
        self.info.offload = mode
        if mode != "none":
            log.info("offload set to %s", mode)

    def upcast_vae(self) -> None:
        """Keep the VAE in float32 from now on: the cure for a VAE overflowing in fp16 into NaN
        or black frames. `svlab.run.stages.decode` casts the latents to the VAE's dtype (the
        pipeline's own decoding would feed it fp16 latents and fail on the mismatch)."""
        import torch

        self._require_loaded().vae.to(dtype=torch.float32)
        self.info.vae_dtype = "fp32"
        log.info("VAE upcast to float32")

    # unloading ---------------------------------------------------------------------------

    def unload(self) -> None:
        """Drop the pipeline, collect it, empty the CUDA cache, and check the weights are gone.

        `info.released` is False (and a warning logged) when something else still holds the
        pipeline, e.g. a variable of the caller's: then its memory cannot be returned.
        """
        if self.pipeline is None:
            return
        import torch

        start = time.perf_counter()
        denoiser = self.denoiser
        probe = weakref.ref(getattr(denoiser, "_orig_mod", denoiser))
        del denoiser
        self.pipeline.remove_all_hooks()
        self.pipeline = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        released = probe() is None
        self.info.released = released
        self.info.unload_seconds = round(time.perf_counter() - start, 3)
        if released:
            log.info("unloaded %s in %.2fs", self.info.model, self.info.unload_seconds)
        else:
            log.warning("unloaded %s, but its weights are still referenced elsewhere and "
                        "cannot be freed", self.info.model)

    def __enter__(self):
        return self.load()

    def __exit__(self, *exc) -> None:
        self.unload()

    def _require_loaded(self):
        if self.pipeline is None:
            raise RuntimeError("no pipeline loaded: call load() first")
        return self.pipeline


def resolve_device(device: str) -> str:
    """"auto" -> cuda when usable, else cpu; "cuda" without a usable device is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailableError("device='cuda' was asked for, but this machine has no usable "
                                    "CUDA device; use device='cpu' or 'auto'")
    return device


def _pick_dtype(config, device: str, half: str = "fp16") -> str:
    if config.dtype != "auto":
        return config.dtype
    return half if device == "cuda" and config.use_fp16 else "fp32"


def _half_precision(model: str) -> str:
    """The half precision a registry model runs in (bf16 for the transformer models, which
    overflow in fp16); fp16 for anything else."""
    return get_spec(model).dtype if is_registered(model) else "fp16"


def _pick_attention(attention: str, device: str) -> str:
    if attention == "auto":
        return "xformers" if device == "cuda" and xformers_available() else "sdpa"
    if attention == "xformers":
        if device != "cuda":
            raise ModelUnavailableError(
                f"attention='xformers' needs a CUDA device, but the device is {device}; "
                "use attention='sdpa' (PyTorch's fused attention) or 'auto'")
        if not xformers_available():
            raise ModelUnavailableError(
                "attention='xformers' was asked for, but xformers is not installed or does not "
                "match this torch build (pip install xformers); use attention='sdpa' or 'auto'")
    return attention


def _variant(resolved: ResolvedModel, family: Family, dtype_name: str) -> str | None:
    """"fp16" when half precision is wanted and the folder ships fp16 weight files (as the
    published SVD repositories do): half the bytes to read."""
    folder = resolved.path / family.denoiser
    if dtype_name == "fp16" and any(folder.glob("*.fp16.safetensors")):
        return "fp16"
    return None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"
