"""Load a Stable Video Diffusion pipeline the way the config says, and really unload it.

`VideoModelLoader(config)` turns the model settings of a `VideoConfig` (model, device, dtype,
attention, offload, forward chunking, compile) into a ready `StableVideoDiffusionPipeline`,
records what it did in `info`, and exposes the switches the generation service flips while
recovering from out-of-memory and NaN failures (`enable_forward_chunking`, `set_offload`,
`upcast_vae`), plus `decode` to turn latents into frames in the VAE's own dtype.

Nothing is switched silently: an attention backend or dtype that cannot run raises, and the one
setting that has no effect (offload on a CPU, where the weights already live in CPU memory) is
logged and recorded as such in `info`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
import weakref
from typing import Any

from ..errors import ConfigError, ModelUnavailableError
from .resolve import FALLBACK, ResolvedModel, choose_model, resolve_model

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

    `info` holds what was loaded and how: model id, source, path, revision, device, dtype,
    attention backend, offload, forward chunking, compile, load and unload seconds.
    """

    def __init__(self, config, *, resolved: ResolvedModel | None = None):
        self.config = config
        self.resolved = resolved
        self.pipeline = None
        self.device = resolve_device(config.device)
        self.dtype_name = _pick_dtype(config, self.device)
        self.attention = _pick_attention(config.attention, self.device)
        self.info: dict[str, Any] = {
            "model": None, "source": None, "path": None, "hub_id": None, "revision": None,
            "device": self.device, "dtype": self.dtype_name, "vae_dtype": self.dtype_name,
            "attention": self.attention, "offload": "none", "offload_requested": config.offload,
            "forward_chunking": False, "compiled": False, "variant": None,
            "load_seconds": None, "unload_seconds": None, "released": None,
        }

    # loading -------------------------------------------------------------------------------

    def load(self):
        """Resolve the model, load it with the configured options, and return the pipeline."""
        import torch
        from diffusers import StableVideoDiffusionPipeline

        if self.pipeline is not None:
            return self.pipeline
        start = time.perf_counter()
        resolved = self.resolved or self._resolve()
        dtype = getattr(torch, DTYPE_NAMES[self.dtype_name])
        variant = _variant(resolved, self.dtype_name)
        try:
            with _quiet_loading():
                pipe = StableVideoDiffusionPipeline.from_pretrained(
                    resolved.path, dtype=dtype, variant=variant, local_files_only=True)
        except Exception as e:  # corrupt or truncated weights, wrong configs: all unusable
            raise ModelUnavailableError(
                f"cannot load {resolved.path}: {type(e).__name__}: {_first_line(e)}") from None
        pipe.set_progress_bar_config(disable=True)
        self.pipeline, self.resolved = pipe, resolved
        del pipe  # the loader holds the only reference, so unload() can free it
        self.info.update(model=resolved.id, source=resolved.source, path=str(resolved.path),
                         hub_id=resolved.hub_id, revision=resolved.revision, variant=variant)
        self._set_attention()
        try:
            self.set_offload(self.config.offload)
            out_of_memory = False
        except torch.OutOfMemoryError:
            out_of_memory = True  # unload outside the handler: its traceback holds the pipeline
        if out_of_memory:
            self.unload()
            raise ModelUnavailableError(
                f"out of memory placing {resolved.id} on {self.device} with "
                f"offload={self.config.offload!r}; offload='model' or 'sequential' needs less "
                "memory")
        if self.config.forward_chunking:
            self.enable_forward_chunking()
        if self.config.compile:
            self._compile()
        self.info["load_seconds"] = round(time.perf_counter() - start, 3)
        log.info("loaded %s from %s in %.2fs (%s, %s, attention %s, offload %s)", resolved.id,
                 resolved.path, self.info["load_seconds"], self.device, self.dtype_name,
                 self.attention, self.info["offload"])
        return self.pipeline

    def _resolve(self) -> ResolvedModel:
        name, reason = choose_model(self.config)
        if name == FALLBACK:
            raise ModelUnavailableError(reason if self.config.model == "auto" else
                                        "model='fallback' names the fallback engine, not a "
                                        "diffusion model")
        return resolve_model(name)

    def _set_attention(self) -> None:
        if self.attention == "xformers":
            self.pipeline.enable_xformers_memory_efficient_attention()
            return
        from diffusers.models.attention_processor import AttnProcessor2_0

        for module in (self.pipeline.unet, self.pipeline.vae):
            module.set_attn_processor(AttnProcessor2_0())

    def _compile(self) -> None:
        import torch

        self.pipeline.unet = torch.compile(self.pipeline.unet)
        self.info["compiled"] = True

    # switches the recovery ladder uses ---------------------------------------------------

    def enable_forward_chunking(self) -> None:
        """Run the UNet's feed-forward layers one frame chunk at a time (less peak memory)."""
        self._require_loaded().unet.enable_forward_chunking()
        self.info["forward_chunking"] = True
        log.info("forward chunking enabled")

    def set_offload(self, mode: str) -> None:
        """Place the pipeline: "none" (all on the device), "model" (one whole model at a time on
        the GPU, the rest in CPU memory) or "sequential" (submodule by submodule: least VRAM,
        slowest). Offloading is a no-op on a CPU, where the weights are in CPU memory already;
        that is logged and recorded as offload "none"."""
        if mode not in ("none", "model", "sequential"):
            raise ConfigError(f"unknown offload {mode!r}; accepted: none, model, sequential")
        pipe = self._require_loaded()
        self.info["offload_requested"] = mode
        if self.device == "cpu":
            if mode != "none":
                log.info("offload=%s has no effect on the CPU: the weights are in CPU memory",
                         mode)
            pipe.to("cpu")
            mode = "none"
        elif mode == "none":
            pipe.remove_all_hooks()
            pipe.to(self.device)
        elif mode == "model":
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.enable_sequential_cpu_offload(device=self.device)
        self.info["offload"] = mode
        if mode != "none":
            log.info("offload set to %s", mode)

    def upcast_vae(self) -> None:
        """Keep the VAE in float32 from now on: the cure for SVD's VAE overflowing in fp16 into
        NaN or black frames. Decode latents with `decode`, which casts them to the VAE's dtype
        (the pipeline's own decoding would feed it fp16 latents and fail on the mismatch)."""
        import torch

        self._require_loaded().vae.to(dtype=torch.float32)
        self.info["vae_dtype"] = "fp32"
        log.info("VAE upcast to float32")

    def decode(self, latents, *, decode_chunk_size: int | None = None):
        """Frames from the latents of `pipeline(..., output_type="latent")`: a float32 numpy
        array (batch, frames, height, width, 3) in [0, 1], exactly as `output_type="np"` gives.

        Decoding apart from denoising lets a caller time it on its own and retry it (smaller
        chunks, fp32 VAE) without denoising again.
        """
        import torch

        pipe = self._require_loaded()
        num_frames = latents.shape[1]
        with torch.no_grad():
            latents = latents.to(dtype=pipe.vae.dtype)
            frames = pipe.decode_latents(latents, num_frames, decode_chunk_size or num_frames)
            frames = pipe.video_processor.postprocess_video(video=frames, output_type="np")
        pipe.maybe_free_model_hooks()  # with model offload, send the VAE back to the CPU
        return frames

    # unloading ---------------------------------------------------------------------------

    def unload(self) -> None:
        """Drop the pipeline, collect it, empty the CUDA cache, and check the weights are gone.

        `info["released"]` is False (and a warning logged) when something else still holds the
        pipeline, e.g. a variable of the caller's: then its memory cannot be returned.
        """
        if self.pipeline is None:
            return
        import torch

        start = time.perf_counter()
        unet = self.pipeline.unet
        probe = weakref.ref(getattr(unet, "_orig_mod", unet))
        del unet
        self.pipeline.remove_all_hooks()
        self.pipeline = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        released = probe() is None
        self.info["released"] = released
        self.info["unload_seconds"] = round(time.perf_counter() - start, 3)
        if released:
            log.info("unloaded %s in %.2fs", self.info["model"], self.info["unload_seconds"])
        else:
            log.warning("unloaded %s, but its weights are still referenced elsewhere and "
                        "cannot be freed", self.info["model"])

    def __enter__(self):
        return self.load()

    def __exit__(self, *exc) -> None:
        self.unload()

    def _require_loaded(self):
        if self.pipeline is None:
            raise RuntimeError("no pipeline loaded: call load() first")
        return self.pipeline


@contextlib.contextmanager
def _quiet_loading():
    """No per-component loading bars from diffusers and transformers: a load is one logged
    line here, and the bars would fill notebooks and reports with noise."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()


def resolve_device(device: str) -> str:
    """"auto" -> cuda when usable, else cpu; "cuda" without a usable device is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelUnavailableError("device='cuda' was asked for, but this machine has no usable "
                                    "CUDA device; use device='cpu' or 'auto'")
    return device


def _pick_dtype(config, device: str) -> str:
    if config.dtype != "auto":
        return config.dtype
    return "fp16" if device == "cuda" and config.use_fp16 else "fp32"


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


def _variant(resolved: ResolvedModel, dtype_name: str) -> str | None:
    """"fp16" when half precision is wanted and the folder ships fp16 weight files (as the
    published SVD repositories do): half the bytes to read."""
    if dtype_name == "fp16" and any((resolved.path / "unet").glob("*.fp16.safetensors")):
        return "fp16"
    return None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"
