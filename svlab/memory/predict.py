"""Predicted peak memory per stage, for any registry model and setting, without a GPU or weights.

How: the model's full-size architecture is built on PyTorch's meta device (parameters have
shapes and dtypes but no storage: the 1.5e9-parameter SVD-XT UNet builds in well under a
second), and each stage of a generation runs on meta inputs of the requested size, the way
diffusers' `StableVideoDiffusionPipeline` and svlab's service run it. Meta tensors are what
FakeTensorMode wraps; using them bare skips its per-operator bookkeeping (about 5x faster) at
the cost of routing attention ourselves (see `_flash_attention`).

- image_encoding: CLIP on the 224x224 image; the conditioning image (float32, H x W) plus its
  noise; the VAE encoder on it (in float32 when fp16 weights and `force_upcast`, as diffusers
  does); image embeddings and latents doubled for classifier-free guidance.
- denoising: one UNet call (each step is alike) on latents (2B, F, 8, H/s, W/s) with guidance
  (`max_guidance_scale > 1`), the guidance mix and an Euler step, with the pipeline's other
  tensors live.
- decoding: `decode_latents` (`decode_chunk_size` frames per VAE call; decoded chunks pile up,
  then the float32 video) and the denormalisation to [0, 1] before the frames leave the device.

A `TorchDispatchMode` sees every operator's outputs and keeps a weak reference to each new
storage, summing the bytes of those still alive; the maximum of that sum over a step is the
step's activation peak. Weights are added per offload mode: all of them resident ("none"), only
the running component ("model": diffusers' model CPU offload), or the largest single layer of
the running component ("sequential": accelerate moves one module's weights at a time).

Memory-wise the kernels traced match CUDA's: attention runs as a flash kernel (output and
log-sum-exp, no L x L matrix). Not counted on CUDA: kernel workspaces (cuDNN, cuBLAS), the CUDA
context and the caching allocator's reserve, which is why a budget keeps some headroom; nor,
for a CPU run, oneDNN's scratch (small against the tensors: see benchmarks/memory_accuracy.py).
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError, unknown_choice

DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
OFFLOAD = ("none", "model", "sequential")
DEVICES = ("cuda", "cpu")
STAGES = ("load", "image_encoding", "denoising", "decoding", "encoding")
COMPONENTS = ("image_encoder", "vae", "unet")


@dataclass(frozen=True)
class Step:
    """One traced piece of a stage: which component's weights it needs on the device and the
    most bytes of other tensors (inputs, activations, outputs) alive at once while it runs."""

    stage: str
    component: str | None
    activation_bytes: int
    weight_dtype: str | None = None  # when the component runs in another dtype (VAE upcast)


@dataclass
class _Build:
    """The meta-device components of one model in one dtype, the counts taken from them, and
    the traces made so far (memoised by their settings)."""

    modules: dict[str, Any]
    dtype: Any
    params: dict[str, int]
    float_elements: dict[str, int]  # component -> floating-point parameter+buffer elements
    other_bytes: dict[str, int]  # component -> bytes of integer buffers (position ids)
    largest_layer: dict[str, int]  # component -> elements of its largest single module
    vae_scaling_factor: float
    vae_scale: int  # pixels per latent along each side (8 for SVD's four-block VAE)
    cache: dict[tuple, list[Step]] = field(default_factory=dict)

    def weight_bytes(self, component: str, dtype_name: str | None = None) -> int:
        """Bytes of `component`'s parameters and buffers, in `dtype_name` if given."""
        size = self.dtype.itemsize if dtype_name is None else _itemsize(dtype_name)
        return self.float_elements[component] * size + self.other_bytes[component]


def plan_memory(
    model: str = "svd-xt",
    *,
    height: int | None = None,
    width: int | None = None,
    num_frames: int | None = None,
    dtype: str = "fp16",
    offload: str = "none",
    decode_chunk_size: int | None = None,
    forward_chunking: bool = False,
    max_guidance_scale: float = 3.0,
    device: str = "cuda",
) -> dict[str, Any]:
    """Predicted peak bytes per stage of generating one clip with `model` (a registry id).

    `height`, `width` and `num_frames` default to the model's own; `decode_chunk_size=None`
    decodes all frames at once, as diffusers does. `device="cpu"` predicts a CPU run (weights
    in host memory, where offload does not apply). Returns a JSON-ready dict:
    `{"peak_bytes", "peak_stage", "stages": {name: {"peak_bytes", "weights_bytes",
    "activation_bytes"}}, "params": {component: int}, "weight_bytes": {...}, "settings",
    "seconds"}`.
    """
    start = time.perf_counter()
    settings = normalise_settings(model, height=height, width=width, num_frames=num_frames,
                                  dtype=dtype, offload=offload,
                                  decode_chunk_size=decode_chunk_size,
                                  forward_chunking=forward_chunking,
                                  max_guidance_scale=max_guidance_scale, device=device)
    build = _build(settings["model"], settings["dtype"])
    steps = trace_steps(build, settings)
    result = combine(build, steps, settings)
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result


def normalise_settings(model: str, *, height, width, num_frames, dtype, offload,
                       decode_chunk_size, forward_chunking, max_guidance_scale, device
                       ) -> dict[str, Any]:
    """Checked settings with the model's defaults filled in; ConfigError names what is wrong."""
    from ..models import get_spec

    spec = get_spec(model)
    height = spec.height if height is None else height
    width = spec.width if width is None else width
    num_frames = spec.num_frames if num_frames is None else num_frames
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value < 8 or value % 8:
            raise ConfigError(f"{name}={value} cannot be taken by the model: Stable Video "
                              "Diffusion's VAE needs a positive multiple of 8")
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ConfigError(f"num_frames={num_frames} is out of range; accepted: >= 1")
    if dtype not in DTYPES:
        raise ConfigError(unknown_choice("dtype", dtype, DTYPES))
    if offload not in OFFLOAD:
        raise ConfigError(unknown_choice("offload", offload, OFFLOAD))
    if device not in DEVICES:
        raise ConfigError(unknown_choice("device", device, DEVICES))
    if device == "cpu" and offload != "none":
        raise ConfigError(f"offload={offload!r} moves weights between CPU and GPU memory and has "
                          "no effect on a CPU run; accepted with device='cpu': offload='none'")
    chunk = num_frames if decode_chunk_size is None else decode_chunk_size
    if not isinstance(chunk, int) or chunk < 1:
        raise ConfigError(f"decode_chunk_size={decode_chunk_size} is out of range; "
                          "accepted: >= 1")
    return {
        "model": spec.id, "height": height, "width": width, "num_frames": num_frames,
        "dtype": dtype, "offload": offload,
        "decode_chunk_size": min(chunk, num_frames), "forward_chunking": bool(forward_chunking),
        "max_guidance_scale": float(max_guidance_scale), "device": device,
    }


def trace_steps(build: _Build, s: dict[str, Any]) -> list[Step]:
    """The traced steps of every stage for settings `s` (memoised per build)."""
    cfg = s["max_guidance_scale"] > 1
    h, w, f = s["height"], s["width"], s["num_frames"]
    host = s["device"] == "cpu"
    return (
        _memo(build, ("image_encoding", h, w, cfg), _trace_image_encoding)
        + _memo(build, ("denoising", h, w, f, cfg, s["forward_chunking"]), _trace_denoising)
        + _memo(build, ("decoding", h, w, f, s["decode_chunk_size"], host), _trace_decoding)
    )


def combine(build: _Build, steps: list[Step], s: dict[str, Any]) -> dict[str, Any]:
    """Stage peaks: each step's activations plus the weights the offload mode keeps resident."""
    offload = s["offload"]
    all_weights = {c: build.weight_bytes(c) for c in COMPONENTS}

    def resident(component: str | None, weight_dtype: str | None) -> int:
        if offload == "none":
            weights = dict(all_weights)
            if component is not None and weight_dtype is not None:
                weights[component] = build.weight_bytes(component, weight_dtype)
            return sum(weights.values())
        if component is None:
            return 0
        if offload == "model":
            return build.weight_bytes(component, weight_dtype)
        itemsize = _itemsize(weight_dtype) if weight_dtype else build.dtype.itemsize
        return build.largest_layer[component] * itemsize

    stages: dict[str, dict[str, int]] = {}

    def add(stage: str, weights: int, activations: int) -> None:
        row = stages.setdefault(stage, {"peak_bytes": 0, "weights_bytes": 0,
                                        "activation_bytes": 0})
        if weights + activations >= row["peak_bytes"]:
            row.update(peak_bytes=weights + activations, weights_bytes=weights,
                       activation_bytes=activations)

    add("load", resident(None, None) if offload == "none" else 0, 0)
    for step in steps:
        add(step.stage, resident(step.component, step.weight_dtype), step.activation_bytes)
    # Encoding the video runs on the host: the device keeps its resident weights only; a CPU
    # run also holds the uint8 frames handed to ffmpeg.
    frame_bytes = s["num_frames"] * s["height"] * s["width"] * 3
    add("encoding", stages["load"]["weights_bytes"], frame_bytes if s["device"] == "cpu" else 0)
    peak_stage = max(stages, key=lambda n: stages[n]["peak_bytes"])
    return {
        "model": s["model"],
        "peak_bytes": stages[peak_stage]["peak_bytes"],
        "peak_stage": peak_stage,
        "stages": {name: stages[name] for name in STAGES},
        "params": dict(build.params),
        "weight_bytes": all_weights,
        "settings": dict(s),
    }


# -- building ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _build(model: str, dtype_name: str) -> _Build:
    """Full-size components on the meta device: parameters with shapes and dtypes but no
    storage, initialisers skipped, and every operator on them runs its shape function only."""
    import torch

    from ..models import build_modules, get_spec

    spec = get_spec(model)
    dtype = getattr(torch, DTYPES[dtype_name])
    vae_config = spec.components["vae"]
    with _quiet():
        modules = build_modules(spec, dtype=dtype, device="meta", seed=None)
        if dtype == torch.float16 and vae_config.get("force_upcast", True):
            # the pipeline casts the VAE to float32 to encode the conditioning image
            modules["vae_fp32"] = build_modules(spec, dtype=torch.float32, device="meta",
                                                seed=None)["vae"]
        # a few parameters are made with the legacy torch.Tensor([...]) constructor, which
        # ignores the default device: move those (one-element mix factors) to meta too
        modules = {name: module.to("meta") for name, module in modules.items()}
    params, floats, others, largest = {}, {}, {}, {}
    for name, module in modules.items():
        if name not in COMPONENTS:
            continue
        tensors = list(module.parameters()) + list(module.buffers())
        params[name] = sum(p.numel() for p in module.parameters())
        floats[name] = sum(t.numel() for t in tensors if t.is_floating_point())
        others[name] = sum(t.nbytes for t in tensors if not t.is_floating_point())
        largest[name] = max(
            sum(t.numel() for t in list(m.parameters(recurse=False))
                + list(m.buffers(recurse=False)))
            for m in module.modules()
        )
    return _Build(
        modules=modules, dtype=dtype, params=params, float_elements=floats,
        other_bytes=others,
        largest_layer=largest,
        vae_scaling_factor=float(vae_config.get("scaling_factor", 0.18215)),
        vae_scale=2 ** (len(vae_config["block_out_channels"]) - 1),
    )


def _memo(build: _Build, key: tuple, trace) -> list[Step]:
    if key not in build.cache:
        build.cache[key] = trace(build, *key[1:])
    return build.cache[key]


# -- tracing -----------------------------------------------------------------------------


class _LiveBytes:
    """Bytes of tensor storage alive, and their maximum since `reset`, as operators run."""

    def __init__(self):
        import torch
        from torch.multiprocessing.reductions import StorageWeakRef
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        live: dict[int, tuple[Any, int]] = {}
        self._live = live
        self.current = 0
        self.peak = 0
        tracker = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_leaves(out):
                    if isinstance(t, torch.Tensor):
                        storage = t.untyped_storage()
                        key = storage._cdata
                        if key not in live:
                            live[key] = (StorageWeakRef(storage), storage.nbytes())
                            tracker.current += storage.nbytes()
                            if tracker.current > tracker.peak:
                                tracker._sweep()
                                tracker.peak = max(tracker.peak, tracker.current)
                return out

        self.mode = Mode()

    def _sweep(self) -> None:
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for k in dead:
            self.current -= self._live.pop(k)[1]

    def reset(self) -> None:
        """Start a new step: the peak restarts from what is alive now."""
        self._sweep()
        self.peak = self.current


@contextlib.contextmanager
def _tracing(build: _Build):
    """Run on the meta device (tensors made in the block land there too), with attention as
    a flash kernel and every new storage counted."""
    import torch

    live = _LiveBytes()
    with torch.device("meta"), torch.no_grad(), _flash_attention(), live.mode:
        yield live


def _flash_attention():
    """`scaled_dot_product_attention` as the flash kernel it is on a GPU (and on a CPU):
    output and log-sum-exp only. On the meta device PyTorch would pick the math fallback,
    which holds the whole L x L attention matrix that no real run allocates."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu

    class FlashAttention(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention:
                return _sdpa_as_flash(flash, *args, **kwargs)
            return func(*args, **kwargs)

    return FlashAttention()


def _sdpa_as_flash(flash, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                   scale=None, enable_gqa=False):
    return flash(query, key, value, dropout_p=dropout_p, is_causal=is_causal,
                 attn_mask=attn_mask, scale=scale)[0]


def _trace_image_encoding(build: _Build, height: int, width: int, cfg: bool) -> list[Step]:
    """CLIP on the 224x224 image, then the VAE encoder on the noised conditioning image."""
    import torch

    with _quiet():  # importing the pipeline module imports CLIPImageProcessor, which warns
        from diffusers import StableVideoDiffusionPipeline

    m, dtype = build.modules, build.dtype
    with _tracing(build) as live:
        pixels = torch.empty(1, 3, 224, 224, dtype=dtype)
        embeds = m["image_encoder"](pixels).image_embeds.unsqueeze(1)
        if cfg:
            embeds = torch.cat([torch.zeros_like(embeds), embeds])
        del pixels
        clip = Step("image_encoding", "image_encoder", live.peak)

        live.reset()
        image = torch.empty(1, 3, height, width)  # preprocess() gives float32
        noise = torch.empty_like(image)
        image = image + 0.02 * noise
        upcast = "vae_fp32" in m  # fp16 with force_upcast: diffusers encodes in float32
        latents = StableVideoDiffusionPipeline._encode_vae_image(
            SimpleNamespace(vae=m["vae_fp32" if upcast else "vae"]), image,
            device=image.device, num_videos_per_prompt=1, do_classifier_free_guidance=cfg)
        latents = latents.to(embeds.dtype)
        vae = Step("image_encoding", "vae", live.peak, "fp32" if upcast else None)
    return [clip, vae]


def _trace_denoising(build: _Build, height: int, width: int, frames: int, cfg: bool,
                     forward_chunking: bool) -> list[Step]:
    """One denoising step with everything the pipeline keeps alive during the loop."""
    import torch

    unet, dtype = build.modules["unet"], build.dtype
    batch = 2 if cfg else 1
    h, w = height // build.vae_scale, width // build.vae_scale
    _set_forward_chunking(unet, forward_chunking)
    try:
        with _tracing(build) as live:
            # live across the loop: embeddings, the noised image and its noise, image latents,
            # time ids, latents and the guidance scale per frame
            embeds = torch.empty(batch, 1, unet.config.cross_attention_dim, dtype=dtype)
            image = torch.empty(1, 3, height, width)
            noise = torch.empty_like(image)
            image_latents = torch.empty(batch, 1, 4, h, w, dtype=dtype).repeat(
                1, frames, 1, 1, 1)
            time_ids = torch.empty(batch, 3, dtype=dtype)
            latents = torch.empty(1, frames, 4, h, w, dtype=dtype)
            guidance = torch.empty(1, frames, 1, 1, 1, dtype=dtype)
            live.reset()

            model_input = torch.cat([latents] * batch) / 2.0  # scale_model_input
            model_input = torch.cat([model_input, image_latents], dim=2)
            noise_pred = unet(model_input, 1.0, encoder_hidden_states=embeds,
                              added_time_ids=time_ids, return_dict=False)[0]
            del model_input
            if cfg:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance * (cond - uncond)
                del uncond, cond
            # Euler step (v-prediction), computed in float32 like diffusers' scheduler
            sample = latents.to(torch.float32)
            denoised = noise_pred * -0.5 + sample * 0.5
            derivative = (sample - denoised) / 2.0
            latents = (sample + derivative * -0.1).to(noise_pred.dtype)
            del sample, denoised, derivative, noise_pred
            step = Step("denoising", "unet", live.peak)
            del embeds, image, noise, image_latents, time_ids, guidance
    finally:
        _set_forward_chunking(unet, False)
    return [step]


def _trace_decoding(build: _Build, height: int, width: int, frames: int, chunk: int,
                    host: bool) -> list[Step]:
    """`decode_latents` then the denormalisation, as svlab's service decodes.

    Only the first, the last, and the last full-size VAE calls are traced: the others do the
    same work as the first with fewer decoded chunks alive, so they cannot set the peak; the
    chunks decoded before each call are held all the same, so each call sees the memory it
    would.
    """
    import torch

    from diffusers.image_processor import VaeImageProcessor

    vae, dtype = build.modules["vae"], build.dtype
    h, w = height // build.vae_scale, width // build.vae_scale
    with _tracing(build) as live:
        latents = torch.empty(1, frames, 4, h, w, dtype=dtype)
        live.reset()
        flat = latents.flatten(0, 1)
        flat = 1 / build.vae_scaling_factor * flat
        starts = list(range(0, frames, chunk))
        last_full = max(i for i, first in enumerate(starts) if first + chunk <= frames)
        decoded = []
        for i, first in enumerate(starts):
            size = min(chunk, frames - first)
            traced = i in (0, last_full, len(starts) - 1)
            if traced:
                frame = vae.decode(flat[first:first + size], num_frames=size).sample
                shape = frame.shape[1:]
            else:  # the same work as the first call: only its output is needed
                frame = torch.empty(size, *shape, dtype=dtype)
            decoded.append(frame)
            del frame
        video = torch.cat(decoded, dim=0)
        del decoded
        video = video.reshape(-1, frames, *video.shape[1:]).permute(0, 2, 1, 3, 4)
        video = video.float()
        del flat
        # postprocess_video(output_type="np"): denormalise on the device, then to the host
        frames_out = VaeImageProcessor.denormalize(video[0].permute(1, 0, 2, 3))
        del video
        if host:  # .cpu().permute().float().numpy() is a view of the same storage on a CPU
            frames_out = frames_out.permute(0, 2, 3, 1)
        step = Step("decoding", "vae", live.peak)
        del frames_out, latents
    return [step]


def _set_forward_chunking(unet, enabled: bool) -> None:
    """diffusers' `enable_forward_chunking()` (chunks of one along the batch, or along frames
    in the temporal blocks); False restores unchunked feed-forward layers."""
    if enabled:
        unet.enable_forward_chunking()
        return
    for module in unet.modules():
        if hasattr(module, "set_chunk_feed_forward"):
            module.set_chunk_feed_forward(None)


def _itemsize(dtype_name: str) -> int:
    return {"fp16": 2, "bf16": 2, "fp32": 4}[dtype_name]


@contextlib.contextmanager
def _quiet():
    """Building logs notices that are not news here: diffusers on float32 modules in half
    precision, transformers on its image processor's backend (one line of stderr is the
    CLI's contract for errors)."""
    from diffusers.utils import logging as dlogging
    from transformers.utils import logging as tlogging

    levels = dlogging.get_verbosity(), tlogging.get_verbosity()
    dlogging.set_verbosity_error()
    tlogging.set_verbosity_error()
    try:
        yield
    finally:
        dlogging.set_verbosity(levels[0])
        tlogging.set_verbosity(levels[1])


def gib(n: int | float) -> float:
    return n / 2**30
