"""Which GPU each local worker's runner uses: `svlab serve --workers N` on a machine with
CUDA devices gives worker i the device i mod (the number of devices), so N workers spread
over the GPUs instead of sharing the first one.

The server process does not import torch (it stays small; the runners load the model), so the
devices are counted the way the NVIDIA driver lists them (/proc/driver/nvidia/gpus), narrowed
by CUDA_VISIBLE_DEVICES where the server was given one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def visible_gpus(environ: Mapping[str, str] = os.environ,
                 listing: Path = NVIDIA_GPUS) -> list[str]:
    """The CUDA device ids this process may use, as CUDA_VISIBLE_DEVICES would name them."""
    named = environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [d.strip() for d in named.split(",") if d.strip() and d.strip() != "-1"]
    try:
        count = sum(1 for entry in listing.iterdir() if entry.is_dir())
    except OSError:  # no NVIDIA driver
        return []
    return [str(i) for i in range(count)]


def runner_gpus(workers: int, device: str, gpus: list[str]) -> list[str | None]:
    """The device each of `workers` runners sees (None: as the server, e.g. on a CPU);
    a config whose device is "cpu" keeps its runners off the GPUs."""
    if device == "cpu" or not gpus:
        return [None] * workers
    return [gpus[i % len(gpus)] for i in range(workers)]
