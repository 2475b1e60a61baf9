"""Frames to MP4 and back, through imageio-ffmpeg's ffmpeg.

Frames are piped to ffmpeg's stdin as raw RGB, so writing costs what ffmpeg's encoder costs and
nothing more (benchmarks/encode.py measures it against ffmpeg reading the same raw file).
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image

from svlab.core.errors import FFmpegError, InputError
from svlab.core.files import atomic_output
from svlab.media.ffmpeg import (
    check_output_path, ffmpeg_exe, probe, run_ffmpeg, stderr_tail,
)

MP4_SUFFIXES = (".mp4", ".m4v", ".mov")
PIXEL_FORMATS = ("yuv420p", "yuv444p")  # what svlab.core.config.PIXEL_FORMATS accepts
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")


def to_uint8_frames(frames: Any) -> np.ndarray:
    """Frames as one contiguous uint8 array of shape (T, H, W, 3).

    Accepts a uint8 array (T, H, W, 3) (returned as is when already contiguous), a float
    array in [0, 1] (scaled by 255 and rounded), or a list of PIL images (converted to RGB)
    and/or H x W x 3 arrays of one size. Anything else raises InputError saying what was given.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(
                f"frames must have shape (T, H, W, 3), got {frames.shape}"
                + (" (one image? wrap it in a list)" if frames.ndim == 3 else "")
            )
        if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
            raise InputError(f"frames must not be empty, got shape {frames.shape}")
        return np.ascontiguousarray(_to_uint8(frames))
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise InputError("frames must not be empty, got an empty list")
        images = [to_uint8_frame(f, i) for i, f in enumerate(frames)]
        sizes = {im.shape for im in images}
        if len(sizes) > 1:
            shown = ", ".join(f"{s[1]}x{s[0]}" for s in sorted(sizes))
            raise InputError(f"all frames must have one size, got {shown} (width x height)")
        return np.stack(images)
    raise InputError(
        "frames must be a uint8 or float array (T, H, W, 3) or a list of PIL images or "
        f"H x W x 3 arrays, got {type(frames).__name__}"
    )


def to_uint8_frame(frame: Any, index: int = 0) -> np.ndarray:
    """One frame (a PIL image, or an H x W x 3 uint8 or [0, 1] float array) as uint8 RGB;
    `index` names it in errors."""
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    if isinstance(frame, np.ndarray):
        if frame.ndim != 3 or frame.shape[-1] != 3 or 0 in frame.shape:
            raise InputError(f"frame {index} must have shape (H, W, 3), got {frame.shape}")
        return _to_uint8(frame)
    raise InputError(f"frame {index} must be a PIL image or an array, got {type(frame).__name__}")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(np.min(array)), float(np.max(array))
        if not (0.0 <= low and high <= 1.0):  # also catches NaN
            raise InputError(
                f"float frames must lie in [0, 1], got values from {low:g} to {high:g}"
            )
        return (array * 255.0 + 0.5).astype(np.uint8)
    raise InputError(f"frames must be uint8 or float in [0, 1], got dtype {array.dtype}")


def _frame_blocks(frames: Any) -> Iterator[np.ndarray]:
    """uint8 (N, H, W, 3) blocks: the whole input at once, or one frame at a time from an
    iterator (a generator streams into ffmpeg without holding the clip in memory)."""
    if isinstance(frames, (np.ndarray, list, tuple)):
        yield to_uint8_frames(frames)
        return
    if not isinstance(frames, Iterable):
        to_uint8_frames(frames)  # raises the standard message
    shape = None
    for i, frame in enumerate(frames):
        image = to_uint8_frame(frame, i)
        if shape is not None and image.shape != shape:
            raise InputError(f"frame {i} has shape {image.shape}, earlier frames {shape}")
        shape = image.shape
        yield np.ascontiguousarray(image)[None]


def _rate(fps: float) -> Fraction:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) \
            or fps <= 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    return Fraction(fps).limit_denominator(1001 * 1000)


def encode_args(width: int, height: int, fps: float, *, quality: int = 18,
                pixel_format: str = "yuv420p", lossless: bool = False,
                preset: str = "medium") -> list[str]:
    """ffmpeg arguments that turn raw rgb24 frames on stdin into an H.264 MP4.

    The same list serves write_video and the command-line reference in benchmarks/encode.py,
    so both encode with exactly the same settings.
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 51:
        raise InputError(f"quality must be an x264 CRF from 0 to 51, got {quality!r}")
    if pixel_format not in PIXEL_FORMATS:
        raise InputError(f"pixel_format {pixel_format!r} is not accepted; accepted: "
                         + ", ".join(PIXEL_FORMATS))
    if preset not in PRESETS:
        raise InputError(f"preset {preset!r} is not accepted; accepted: " + ", ".join(PRESETS))
    rate = _rate(fps)
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "-"]
    if lossless:
        # x264 on RGB itself: no colour conversion, so decoding gives back the exact pixels.
        args += ["-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "rgb24"]
    else:
        if pixel_format == "yuv420p" and (width % 2 or height % 2):
            # 4:2:0 needs even sizes: add one column/row, a copy of the last one (a black one
            # would bleed into the last real column through the shared chroma samples). In
            # planar RGB (gbrp), which fillborders can work on without a lossy conversion.
            even_w, even_h = width + width % 2, height + height % 2
            args += ["-vf", f"format=gbrp,pad={even_w}:{even_h}:0:0,"
                            f"fillborders=right={width % 2}:bottom={height % 2}:mode=smear"]
        args += ["-c:v", "libx264", "-crf", str(quality), "-pix_fmt", pixel_format]
    return args + ["-preset", preset, "-movflags", "+faststart", "-f", "mp4"]


def write_video(
    frames: Any,
    path: str | Path,
    fps: float,
    *,
    quality: int = 18,
    pixel_format: str = "yuv420p",
    lossless: bool = False,
    preset: str = "medium",
    audio: Any = None,
) -> Path:
    """Encode frames to an H.264 MP4 that plays everywhere; returns the path written.

    audio: a sound track to mux beside the frames as AAC (an `svlab.records.Audio`: float32
    samples (channels, samples) in [-1, 1] and their rate), starting with the first frame;
    `fit_audio` first makes it exactly as long as the video.

    frames: anything `to_uint8_frames` accepts, or an iterator of frames (streamed).
    fps: frames per second, a float is fine (29.97 is kept as 2997/100).
    quality: x264 CRF (0 best .. 51 worst; 18 looks lossless). pixel_format: yuv420p (plays
    everywhere) or yuv444p (full chroma).

    yuv420p needs even sizes, so an odd width or height gets one more column or row, a copy of
    the last one: a 65x33 clip is stored (and read back) as 66x34.

    lossless=True encodes with libx264rgb at qp 0 in RGB: `read_video` then returns exactly
    the frames written (for research comparisons; RGB H.264 does not play in browsers).

    The file appears atomically: ffmpeg writes a hidden temporary file in the same folder
    which is renamed over `path` only when complete. On any error or KeyboardInterrupt the
    temporary file is removed and `path` is left as it was.
    """
    path = check_output_path(path)
    if path.suffix.lower() not in MP4_SUFFIXES:
        raise InputError(f"{path.name}: write_video writes MP4; accepted suffixes: "
                         + ", ".join(MP4_SUFFIXES))
    blocks = _frame_blocks(frames)
    first = next(blocks, None)
    if first is None:
        raise InputError("frames must not be empty, got no frames")
    height, width = first.shape[1:3]
    args = encode_args(width, height, fps, quality=quality, pixel_format=pixel_format,
                       lossless=lossless, preset=preset)
    with atomic_output(path) as tmp, tempfile.TemporaryDirectory(prefix=".svlab-audio.") as d:
        if audio is not None:
            args = _with_audio(args, audio, Path(d) / "audio.f32")
        _pipe_to_ffmpeg([*args, "-y", str(tmp)], first, blocks, what=path.name)
    return path


AUDIO_BITRATE = "192k"


def _with_audio(args: list[str], audio: Any, raw: Path) -> list[str]:
    """`encode_args` with a second input, the sound's raw float32 samples (interleaved), muxed
    as AAC beside the video."""
    samples = np.ascontiguousarray(np.asarray(audio.samples, dtype=np.float32).T)
    samples.tofile(raw)
    at = args.index("-i") + 2  # after the frames' input, before the output options
    source = ["-f", "f32le", "-ar", str(int(audio.sample_rate)), "-ac",
              str(samples.shape[1]), "-i", str(raw)]
    return [*args[:at], *source, *args[at:], "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac",
            "-b:a", AUDIO_BITRATE]


def fit_audio(audio: Any, frames: int, fps: float):
    """`audio` made exactly as long as `frames` frames at `fps` (trimmed at the end, or padded
    with silence), so that the sound track ends with the video; the same object when it already
    is. Frame i and the sound at i / fps stay together: interpolation and retiming change the
    frame count and rate, not the time of a frame."""
    from dataclasses import replace

    want = round(frames / fps * audio.sample_rate)
    have = audio.samples.shape[1]
    if want == have:
        return audio
    if want < have:
        return replace(audio, samples=audio.samples[:, :want])
    pad = np.zeros((audio.samples.shape[0], want - have), dtype=audio.samples.dtype)
    return replace(audio, samples=np.concatenate([audio.samples, pad], axis=1))


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The first audio stream decoded to float32 samples (channels, samples), and its rate;
    InputError when the file has no sound."""
    info = probe(path)
    if not info["has_audio"]:
        raise InputError(f"{str(path)!r} has no audio stream")
    channels, rate = info["audio_channels"], info["audio_sample_rate"]
    proc = run_ffmpeg(["-i", Path(path), "-map", "0:a:0", "-f", "f32le", "-ac", str(channels),
                       "-ar", str(rate), "-"], what=f"reading the sound of {path}")
    data = np.frombuffer(proc.stdout, dtype=np.float32)
    return data.reshape(-1, channels).T.copy(), rate


def _pipe_to_ffmpeg(args: list[str], first: np.ndarray, blocks: Iterator[np.ndarray], *,
                    what: str) -> None:
    """Run ffmpeg with `args`, writing the raw frames of `first` then `blocks` to its stdin.

    stderr goes to a file: a full pipe can never stall ffmpeg while we write stdin. On any
    error or interruption ffmpeg is killed and waited for, so nothing keeps writing."""
    proc = None
    try:
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel",
                                     "error", *args],
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=errors)
            try:
                proc.stdin.write(first.data)
                for block in blocks:
                    proc.stdin.write(block.data)
                proc.stdin.close()
            except BrokenPipeError:
                pass  # ffmpeg stopped reading; its exit status and stderr say why
            if proc.wait() != 0:
                errors.seek(0)
                raise FFmpegError(
                    f"encoding {what} failed (ffmpeg exit {proc.returncode}): "
                    f"{stderr_tail(errors.read().decode('utf-8', 'replace'))}")
    except BaseException:
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            try:
                proc.stdin.close()
            except OSError:
                pass  # the pipe broke with the process
        raise


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """All frames of the first video stream as uint8 (T, H, W, 3) RGB, and the frame rate.

    Frames come out as decoded (no frame is dropped or repeated to force a constant rate).
    """
    info = probe(path)
    proc = run_ffmpeg(["-i", Path(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                       "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], what=f"reading {path}")
    frame_bytes = info["width"] * info["height"] * 3
    data = np.frombuffer(proc.stdout, dtype=np.uint8)
    if data.size == 0 or data.size % frame_bytes:
        raise InputError(f"cannot decode whole frames from {str(path)!r}")
    frames = data.reshape(-1, info["height"], info["width"], 3).copy()
    return frames, info["fps"]
