"""The acceleration study: one model, one image, one seed, run without step caching and with
each method its family takes, reporting what each saved and what it cost.

Per run: the denoising wall time and its speed-up over the baseline, the work the
transformer blocks actually did (calls of their linear layers, counted by forward hooks: a
cached block is still called through diffusers' hook, but its layers are not), and the PSNR
of the frames against the baseline's. The model is loaded once and the baseline is run twice,
the first time only to warm up, so that no run pays for first-call costs; with `repeats`, each
run's time is the fastest of that many (a shared CPU's noise only ever adds time)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from svlab.core.config import VideoConfig, cache_parameter
from svlab.memory import StageTracker
from svlab.models import VideoModelLoader
from svlab.render.eval.metrics import psnr
from svlab.run.stages import decode, denoise, to_uint8

BLOCK_LISTS = ("blocks", "transformer_blocks")  # where the transformer families keep blocks


@dataclass(frozen=True)
class SpeedRun:
    """One run of the study. `threshold` is the method's parameter as applied."""

    method: str | None
    threshold: float | None
    seconds: float  # denoising wall time
    speedup: float  # the baseline's seconds / these
    block_work: int  # linear-layer calls inside the transformer blocks
    work_fraction: float  # block_work / the baseline's
    psnr: float  # dB against the baseline's frames; inf when identical

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def speed_study(config: VideoConfig, image, prompt: str | None = None, *,
                methods: list[tuple[str, float | None]] | None = None,
                repeats: int = 1) -> list[SpeedRun]:
    """The baseline (config without cache) then each (method, threshold); `methods` defaults
    to every method the model's family takes, at its default parameter. `image` must have the
    config's size."""
    base = config.replace(cache=None, cache_threshold=None)
    loader = VideoModelLoader(base)
    loader.load()
    try:
        if methods is None:
            methods = [(m, None) for m in loader.family.cache_methods]
        runs = [base.replace(cache=m, cache_threshold=t) for m, t in methods]
        _run(loader, base, image, prompt, 1)  # warm-up
        frames, seconds, work = _run(loader, base, image, prompt, repeats)
        results = [SpeedRun(None, None, seconds, 1.0, work, 1.0, float("inf"))]
        for run in runs:
            f, s, w = _run(loader, run, image, prompt, repeats)
            results.append(SpeedRun(run.cache, cache_parameter(run.cache, run.cache_threshold)[1],
                                    s, seconds / s, w, w / work, psnr(f, frames)))
        return results
    finally:
        loader.unload()


def _run(loader: VideoModelLoader, config: VideoConfig, image, prompt, repeats: int):
    """(uint8 frames, fastest denoising seconds, block work) of `repeats` identical runs."""
    pipe, family = loader.pipeline, loader.family
    times = []
    for _ in range(repeats):
        with counting_block_work(getattr(pipe, family.denoiser)) as work:
            start = time.perf_counter()
            latents = denoise(pipe, family, image, prompt, config,
                              tracker=StageTracker(loader.device, release_heap=False))
            times.append(time.perf_counter() - start)
    seconds = min(times)
    frames = to_uint8(decode(pipe, family, latents, config.decode_chunk_size
                             or config.num_frames)[0])
    return frames, seconds, work[0]


@contextlib.contextmanager
def counting_block_work(denoiser) -> Iterator[list[int]]:
    """A one-item list counting the calls of the linear layers inside the denoiser's blocks
    while the block runs."""
    import torch

    count = [0]

    def hook(module, args, output):
        count[0] += 1

    handles = [layer.register_forward_hook(hook) for name, layer in denoiser.named_modules()
               if isinstance(layer, torch.nn.Linear) and name.split(".")[0] in BLOCK_LISTS]
    try:
        yield count
    finally:
        for handle in handles:
            handle.remove()
