"""One video made by several processes, one per GPU (gloo on a CPU), with diffusers' context
parallelism: every process holds the whole model and denoises a slice of the video's tokens
(Ulysses attention exchanges slices before and after each attention).

The calling process is rank 0: it spawns ranks 1..N-1 (torch.multiprocessing, "spawn"), joins
the process group with them, denoises its slice and alone decodes, encodes and writes, so the
video and manifest are published exactly as for one process. The other ranks only denoise.

Failure is bounded: every collective has `COLLECTIVE_TIMEOUT_S`, a rank that dies breaks its
peers' next exchange, and rank 0 then stops every other rank and raises one `RankFailedError`
naming the rank and how it ended. Nothing is written before the frames exist.
"""

from __future__ import annotations

import contextlib
import datetime
import signal
import socket
import time
from typing import Iterator
from unittest import mock

from svlab.core.config import VideoConfig
from svlab.core.records import ParallelLayout
from svlab.memory import StageTracker
from svlab.models import ResolvedModel, VideoModelLoader, resolve_device, resolve_model
from svlab.models.placement import denoisers
from svlab.run.stages import denoise

COLLECTIVE_TIMEOUT_S = 300.0  # the longest any rank waits for its peers (or to start)
STOP_GRACE_S = 10.0  # how long ranks that are done may take to exit before they are killed


class RankFailedError(RuntimeError):
    """A rank of a parallel run died or failed; the run was stopped on every rank."""


@contextlib.contextmanager
def parallel_run(config: VideoConfig, image, prompt: str | None
                 ) -> Iterator[tuple[VideoModelLoader, ParallelLayout]]:
    """Start ranks 1..gpus-1 on `image`, join them as rank 0 and yield (rank 0's loaded,
    parallel model, the layout). On leaving, every other rank has exited or been killed."""
    import torch.multiprocessing as mp

    world, device = config.gpus, resolve_device(config.device)
    layout = ParallelLayout(world_size=world, ulysses_degree=world,
                            backend="nccl" if device == "cuda" else "gloo")
    address = f"tcp://127.0.0.1:{_free_port()}"
    resolved = resolve_model(config.model)  # found (or a tiny one built) once, for every rank
    others = mp.start_processes(_rank_main,
                                args=(layout, address, config, resolved, image, prompt),
                                nprocs=world - 1, start_method="spawn", join=False)
    try:
        with _threads(device, world), _group(0, layout, address, device):
            yield _parallel_loader(config, resolved, layout), layout
    except Exception as e:
        failed = _failed_rank(others)
        if failed is not None:
            raise RankFailedError(f"rank {failed} of {world} {_ending(others, failed)}"
                                  f"; the run was stopped on every rank") from e
        raise
    finally:
        _stop(others)


def _rank_main(index: int, layout: ParallelLayout, address: str, config: VideoConfig,
               resolved: ResolvedModel, image, prompt: str | None) -> None:
    """Rank index+1: load the model, make it parallel and denoise its slice (rank 0 decodes)."""
    rank, device = index + 1, resolve_device(config.device)
    with _threads(device, layout.world_size), _group(rank, layout, address, device):
        loader = _parallel_loader(config, resolved, layout)
        denoise(loader.pipeline, loader.family, image, prompt, config,
                tracker=StageTracker(device, release_heap=False))


@contextlib.contextmanager
def _group(rank: int, layout: ParallelLayout, address: str, device: str) -> Iterator[None]:
    import torch
    import torch.distributed as dist

    if device == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group(layout.backend, init_method=address, rank=rank,
                            world_size=layout.world_size,
                            timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    try:
        yield
    finally:
        dist.destroy_process_group()


def _parallel_loader(config: VideoConfig, resolved: ResolvedModel,
                     layout: ParallelLayout) -> VideoModelLoader:
    """The model loaded here with its denoisers (Wan2.2 A14B has two) split by Ulysses."""
    from diffusers import ContextParallelConfig

    loader = VideoModelLoader(config, resolved=resolved)
    pipe = loader.load()
    for denoiser in denoisers(pipe, loader.family):
        with _cpu_counts_as_a_device():
            denoiser.enable_parallelism(
                config=ContextParallelConfig(ulysses_degree=layout.ulysses_degree))
    return loader


@contextlib.contextmanager
def _cpu_counts_as_a_device() -> Iterator[None]:
    """diffusers 0.42.1 (ModelMixin._resolve_parallel_config) places each rank on
    `torch.device(accelerator, rank % torch.accelerator.device_count())`, which divides by zero
    where there is no accelerator. There the accelerator type is "cpu" already, so counting
    one device gives `cpu:0` and a gloo mesh of CPU tensors; on a GPU nothing changes."""
    import torch

    if torch.accelerator.device_count():
        yield
        return
    with mock.patch.object(torch.accelerator, "device_count", return_value=1):
        yield


@contextlib.contextmanager
def _threads(device: str, world: int) -> Iterator[None]:
    """On a CPU, the process's threads shared out among the ranks, so N ranks use the cores
    one process would (and timings compare like for like)."""
    import torch

    if device != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before // world))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _failed_rank(others) -> int | None:
    """The first rank (1..N-1) that has ended with an error, waiting briefly for one to show:
    rank 0's own error is usually the echo of a peer's death."""
    deadline = time.monotonic() + 2.0
    while True:
        for i, process in enumerate(others.processes):
            if process.exitcode not in (None, 0):
                return i + 1
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def _ending(others, rank: int) -> str:
    code = others.processes[rank - 1].exitcode
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"failed with exit status {code}"


def _stop(others) -> None:
    """Wait up to STOP_GRACE_S for every other rank to exit, then kill those left."""
    deadline = time.monotonic() + STOP_GRACE_S
    for process in others.processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in others.processes:
        if process.is_alive():
            process.kill()
            process.join()
