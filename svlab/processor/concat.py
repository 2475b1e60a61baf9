"""Joining clips: by stream copy when they allow it, else by one re-encode, with an optional
crossfade.

Stream copy (ffmpeg's concat demuxer with `-c copy`) keeps every packet as it was: no quality
loss, and as fast as copying the bytes. It is only valid when the clips share codec, codec
parameters (H.264's SPS/PPS), size, frame rate, pixel format and audio codec; anything else,
or a crossfade, needs decoding and one encode to a common format.

The copy is speculative: one ffmpeg run both concatenates and lists each input's packets and
parameters, and the output is kept only when the inputs turn out compatible. Compatible clips
(the usual case: scenes from one generator) so cost a single ffmpeg run, as much as the plain
`ffmpeg -f concat -c copy` command (benchmarks/concat.py measures it).
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from ..errors import FFmpegError, InputError
from .ffmpeg import (
    StreamScan,
    check_input_file,
    check_output_path,
    describe,
    ffmpeg_exe,
    parse_framecrc,
    probe,
    run_ffmpeg,
    scan,
    stderr_tail,
    temporary_sibling,
)

COPY_KEYS = ("codec", "width", "height", "fps", "pixel_format", "audio_codec", "extradata")
AUDIO_RATE = 48000
# The plain stream-copy concat: `ffmpeg CONCAT_INPUT -i list.txt COPY_OUTPUT out.mp4`.
# auto_convert 0: the demuxer would otherwise repeat SPS/PPS inside every H.264 key frame,
# which identical codec parameters (checked) make useless, and the packets would not be the
# input's bytes any more.
CONCAT_INPUT = ["-f", "concat", "-safe", "0", "-auto_convert", "0"]
COPY_OUTPUT = ["-map", "0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4"]


def concat_videos(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    crossfade: float = 0.0,
    quality: int = 18,
    preset: str = "medium",
) -> dict[str, Any]:
    """Join `paths` in order into the MP4 `out`; returns what was done.

    Clips that can be stream-copied are (method "copy"). Otherwise (method "reencode") every
    clip is scaled to fit the first clip's size, letterboxed, resampled to its frame rate and
    encoded once with libx264 (CRF `quality`, yuv420p); audio, if any clip has some, becomes
    AAC (silence for clips without). crossfade > 0 fades each clip into the next over that many
    seconds (ffmpeg's xfade and acrossfade), which shortens the whole by that much per joint.

    The dict holds method, reason (why not copied, or None), path, frames, fps, width, height,
    duration, has_audio and inputs. `out` is written atomically, like `write_video`.
    """
    if isinstance(paths, (str, Path)) or not paths:
        raise InputError("concat needs a list of one or more video files")
    paths = [check_input_file(p) for p in paths]
    if isinstance(crossfade, bool) or not isinstance(crossfade, (int, float)) \
            or not math.isfinite(crossfade) or crossfade < 0:
        raise InputError(f"crossfade must be a number of seconds >= 0, got {crossfade!r}")
    out = check_output_path(out)
    tmp = temporary_sibling(out)
    try:
        with tempfile.TemporaryDirectory(prefix="svlab-concat-") as work:
            infos, reason = None, "crossfade" if crossfade > 0 else None
            if reason is None:
                infos = _copy(paths, tmp, Path(work))
                reason = _incompatibility(infos)
                if reason is None:
                    os.replace(tmp, out)
                    return _copy_result(infos, out)
                tmp.unlink(missing_ok=True)
            infos = infos or scan(paths)
            _reencode(infos, tmp, crossfade=crossfade, quality=quality, preset=preset)
            result = {k: v for k, v in probe(tmp).items() if k != "size_bytes"}
            os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"method": "reencode", "reason": reason, **result, "path": str(out),
            "inputs": [str(p) for p in paths]}


def write_concat_list(paths: Sequence[Path], list_file: Path) -> Path:
    """A concat demuxer list naming `paths` (absolute, quoted for the demuxer)."""
    lines = ["file '" + str(p.resolve()).replace("'", "'\\''") + "'" for p in paths]
    list_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list_file


def _copy(paths: list[Path], tmp: Path, work: Path) -> list[dict[str, Any]]:
    """Stream-copy concat into `tmp` and, in the same ffmpeg run, describe every input."""
    list_file = write_concat_list(paths, work / "list.txt")
    inputs = [arg for p in paths for arg in ("-i", str(p))]
    maps = [arg for i in range(len(paths)) for arg in ("-map", f"{i + 1}:v:0")]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *CONCAT_INPUT, "-i", str(list_file),
           *inputs, *COPY_OUTPUT, "-y", str(tmp), *maps, "-c", "copy", "-f", "framecrc", "pipe:1"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        infos = scan(paths)  # an unreadable input raises InputError here
        if _incompatibility(infos) is None:
            raise FFmpegError(f"stream-copy concat failed (ffmpeg exit {proc.returncode}): "
                              f"{stderr_tail(err)}")
        return infos
    streams = parse_framecrc(proc.stdout.decode("ascii", "replace"))
    return [describe(p, err, i + 1, streams.get(i, StreamScan())) for i, p in enumerate(paths)]


def _incompatibility(infos: list[dict[str, Any]]) -> str | None:
    """Why the clips cannot be stream-copied together, or None when they can."""
    first = infos[0]
    for info in infos[1:]:
        for key in COPY_KEYS:
            if info[key] != first[key]:
                return (f"{Path(info['path']).name} differs from {Path(first['path']).name} "
                        f"in {key} ({info[key]} vs {first[key]})")
    return None


def _copy_result(infos: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    first = infos[0]
    frames = sum(info["frames"] for info in infos)
    return {
        "method": "copy", "reason": None, "path": str(out),
        "codec": first["codec"], "pixel_format": first["pixel_format"],
        "width": first["width"], "height": first["height"], "fps": first["fps"],
        "frames": frames, "duration": frames / first["fps"] if first["fps"] else 0.0,
        "has_audio": first["has_audio"], "audio_codec": first["audio_codec"],
        "inputs": [info["path"] for info in infos],
    }


def _reencode(infos: list[dict[str, Any]], tmp: Path, *, crossfade: float, quality: int,
              preset: str) -> None:
    first = infos[0]
    width, height = first["width"] + first["width"] % 2, first["height"] + first["height"] % 2
    if not first["fps"]:
        raise InputError(f"cannot tell the frame rate of {first['path']!r}")
    rate = Fraction(first["fps"]).limit_denominator(1001 * 1000)
    fps = f"{rate.numerator}/{rate.denominator}"
    durations = [info["frames"] / info["fps"] if info["fps"] else info["duration"]
                 for info in infos]
    _check_crossfade(crossfade, durations, infos)
    audio = any(info["has_audio"] for info in infos)
    graph = []
    for i, (info, seconds) in enumerate(zip(infos, durations)):
        graph.append(
            f"[{i}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p,"
            f"settb=AVTB[v{i}]"
        )
        if audio:  # exactly as long as the clip's video, so the joints stay in sync
            source = f"[{i}:a:0]" if info["has_audio"] else \
                f"anullsrc=r={AUDIO_RATE}:cl=stereo,"
            graph.append(f"{source}aresample={AUDIO_RATE},aformat=sample_fmts=fltp:"
                         f"channel_layouts=stereo,apad,atrim=end={seconds:.6f}[a{i}]")
    n = len(infos)
    if crossfade > 0 and n > 1:
        video, sound, length = "[v0]", "[a0]", durations[0]
        for i in range(1, n):
            offset = length - crossfade
            graph.append(f"{video}[v{i}]xfade=transition=fade:duration={crossfade:.6f}:"
                         f"offset={offset:.6f}[vx{i}]")
            video = f"[vx{i}]"
            if audio:
                graph.append(f"{sound}[a{i}]acrossfade=d={crossfade:.6f}[ax{i}]")
                sound = f"[ax{i}]"
            length += durations[i] - crossfade
    else:
        pairs = "".join(f"[v{i}]" + (f"[a{i}]" if audio else "") for i in range(n))
        graph.append(f"{pairs}concat=n={n}:v=1:a={int(audio)}[vout]" + ("[aout]" if audio else ""))
        video, sound = "[vout]", "[aout]"
    args = [arg for info in infos for arg in ("-i", info["path"])]
    args += ["-filter_complex", ";".join(graph), "-map", video]
    if audio:
        args += ["-map", sound, "-c:a", "aac", "-b:a", "192k"]
    args += ["-c:v", "libx264", "-crf", str(quality), "-preset", preset, "-pix_fmt", "yuv420p",
             "-r", fps, "-movflags", "+faststart", "-f", "mp4", "-y", str(tmp)]
    run_ffmpeg(args, what="re-encoding concat")


def _check_crossfade(crossfade: float, durations: list[float], infos) -> None:
    """Each joint's fade must fit in the clips around it (a middle clip holds two fades)."""
    if crossfade <= 0 or len(durations) < 2:
        return
    limits = [d if i in (0, len(durations) - 1) else d / 2 for i, d in enumerate(durations)]
    shortest = min(range(len(limits)), key=limits.__getitem__)
    if crossfade >= limits[shortest]:
        raise InputError(
            f"crossfade of {crossfade:g}s does not fit: {Path(infos[shortest]['path']).name} "
            f"lasts {durations[shortest]:.3g}s; accepted: less than {limits[shortest]:.3g}s"
        )
