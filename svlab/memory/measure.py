"""Measured time and peak memory per stage of a generation.

    tracker = StageTracker("cuda")
    with tracker.stage("decoding"):
        frames = pipe.decode_latents(latents, num_frames, chunk)
    tracker.table()  # {"decoding": StageStats(seconds=1.9, peak_bytes=..., added_bytes=...)}

What is measured, per device:

- CUDA: the caching allocator's own counters. The peak counter is reset when a stage starts and
  read when it ends, so `peak_bytes` is the most memory allocated to tensors at any moment of
  the stage (weights resident from earlier stages included): the figure that must fit on the
  card. Memory the allocator caches but has not handed out is not counted.
- CPU: torch keeps no allocation statistics for CPU tensors, so the process's resident set is
  read instead. At stage start, free heap pages go back to the system (`malloc_trim`) and the
  kernel's high-water mark is reset (writing 5 to /proc/self/clear_refs); at stage end the
  high-water mark (VmHWM) is read. `peak_bytes` is that high-water mark minus the resident set
  when the tracker was made, so create the tracker after imports and before loading weights.
  It counts what torch allocates and touches (and also any page the process touches for the
  first time, e.g. a library loaded mid-stage or a checkpoint's mapped file), which is why it
  is a measurement and not an estimate. Where /proc is missing (not Linux), CPU peaks are None.

`added_bytes` is `peak_bytes` minus what was in use when the stage began: the stage's own
working memory. Reading the counters costs microseconds, so tracking is always on.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import time
from pathlib import Path
from typing import Iterator

from svlab.core.records import StageStats

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


class StageTracker:
    """Seconds and peak memory of named stages, in the order they first ran.

    A stage that runs several times (a storyboard's clips, a retried decode) keeps its total
    seconds and its largest peak. Stages do not nest: one is measured at a time.
    """

    def __init__(self, device: str = "cpu", *, release_heap: bool = True):
        """`release_heap` (CPU only) returns freed heap pages to the system before each stage,
        so a stage's peak is not hidden by memory an earlier stage freed. It costs tens of
        milliseconds a stage on a large heap (the pages fault back in), so the generation
        service turns it off; its CPU peaks then include memory the allocator keeps."""
        import torch

        self.device = torch.device(device)
        self._release_heap = release_heap
        self._cuda = self.device.type == "cuda"
        if self._cuda:
            torch.cuda.synchronize(self.device)
            self._baseline = 0  # allocator counters start at zero with the process
            self.method = "torch.cuda.max_memory_allocated, reset per stage"
        else:
            if release_heap:
                _release_free_heap()
            # None where the high-water mark cannot be reset (not Linux): peaks unknown.
            self._baseline = _resident_bytes() if _reset_high_water_mark() else None
            self.method = ("process resident-set high-water mark (VmHWM, reset per stage) "
                           "minus the resident set at tracker creation")
        self._rows: dict[str, StageStats] = {}
        self._current: str | None = None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Measure the block as stage `name` (also when it raises, e.g. out of memory)."""
        if self._current is not None:
            raise RuntimeError(f"stage {name!r} started inside stage {self._current!r}")
        self._current = name
        start_bytes = self._reset_peak()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self._cuda:
                import torch

                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - start
            peak = self._read_peak()
            self._current = None
            self._record(name, seconds, peak, start_bytes)

    def table(self) -> dict[str, StageStats]:
        """The stages measured so far, in the order they first ran."""
        return {name: StageStats(row.seconds, row.peak_bytes, row.added_bytes)
                for name, row in self._rows.items()}

    def merge(self, stages: dict[str, StageStats]) -> None:
        """Add stages measured elsewhere (a storyboard's scenes made on other workers): their
        seconds add up, their peaks are kept as the largest."""
        for name, row in stages.items():
            self._record(name, row.seconds, row.peak_bytes, None)
            if row.added_bytes is not None:
                kept = self._rows[name]
                kept.added_bytes = _larger(kept.added_bytes, row.added_bytes)

    def peak_bytes(self) -> int | None:
        """The largest stage peak so far (None when nothing could be measured)."""
        peaks = [r.peak_bytes for r in self._rows.values() if r.peak_bytes is not None]
        return max(peaks) if peaks else None

    def _record(self, name, seconds, peak, start_bytes) -> None:
        added = None if peak is None or start_bytes is None else max(0, peak - start_bytes)
        row = self._rows.get(name)
        if row is None:
            self._rows[name] = StageStats(seconds, peak, added)
            return
        row.seconds += seconds
        row.peak_bytes = _larger(row.peak_bytes, peak)
        row.added_bytes = _larger(row.added_bytes, added)

    def _reset_peak(self) -> int | None:
        """Reset the peak counter; return the bytes in use now (relative to the baseline)."""
        if self._cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return torch.cuda.memory_allocated(self.device) - self._baseline
        if self._baseline is None:
            return None
        if self._release_heap:
            _release_free_heap()
        _reset_high_water_mark()
        return _resident_bytes() - self._baseline

    def _read_peak(self) -> int | None:
        if self._cuda:
            import torch

            return torch.cuda.max_memory_allocated(self.device) - self._baseline
        if self._baseline is None:
            return None
        high_water = _status_bytes("VmHWM")
        return None if high_water is None else max(0, high_water - self._baseline)


def pin_mmap_threshold(nbytes: int = 1 << 20) -> bool:
    """Make glibc serve every allocation above `nbytes` with its own mapping, returned to the
    system when freed, for the rest of the process. False where not glibc.

    By default glibc raises this threshold each time a large block is freed (up to 32 MiB),
    after which freed tensors below it stay on the heap, resident whether live or not, and a
    CPU stage's resident set measures the allocator's hoard instead of the program's tensors
    (the tiny model's decode read 1.4x to 2.5x its live tensors). The memory experiments of
    `svlab.render.eval.memory_study` pin it; `StageTracker` alone does not, so that tracking never changes
    how a run allocates.
    """
    if _libc is None or not hasattr(_libc, "mallopt"):
        return False
    return bool(_libc.mallopt(_M_MMAP_THRESHOLD, nbytes))


def _larger(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _status_bytes(field: str) -> int | None:
    """A `kB` field of /proc/self/status in bytes, or None off Linux."""
    try:
        with _STATUS.open() as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _resident_bytes() -> int | None:
    return _status_bytes("VmRSS")


def _reset_high_water_mark() -> bool:
    """Set VmHWM to the current resident set (Linux >= 4.0); False where not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _release_free_heap() -> None:
    """Return freed heap pages to the system so they do not hide the next stage's growth.

    glibc keeps freed small and medium blocks resident; without this, a stage that reuses
    memory freed by the previous one would look as if it needed nothing.
    """
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_libc = _load_libc()
