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
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from svlab.core.errors import FFmpegError, InputError
from svlab.core.files import atomic_output
from svlab.media.ffmpeg import (
    StreamScan, check_input_file, check_output_path, describe, ffmpeg_arg, ffmpeg_exe, parse_framecrc, probe, run_ffmpeg, scan, stderr_tail,
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
    with atomic_output(out) as tmp, tempfile.TemporaryDirectory(prefix="svlab-concat-") as work:
        infos, reason = None, "crossfade" if crossfade > 0 else None
        if reason is None:
            infos = _copy(paths, tmp, Path(work))
            reason = _incompatibility(infos)
            if reason is None:
                return _copy_result(infos, out)  # leaving the block renames tmp to out
            tmp.unlink(missing_ok=True)
        infos = infos or scan(paths)
        _reencode(infos, tmp, crossfade=crossfade, quality=quality, preset=preset)
        result = {k: v for k, v in probe(tmp).items() if k != "size_bytes"}
    return {"method": "reencode", "reason": reason, **result, "path": str(out),
            "inputs": [str(p) for p in paths]}


def write_concat_list(paths: Sequence[Path], list_file: Path) -> Path:
    """A concat demuxer list of `paths`, safe for any file name: each input is linked into the
    list's folder under a plain name (input0000.mp4, ...), and the list names the links, so
    quotes, newlines or a leading "-" in a name never reach the demuxer's parser."""
    lines = []
    for i, path in enumerate(paths):
        link = list_file.parent / f"input{i:04d}{path.suffix.lower() or '.mp4'}"
        link.symlink_to(Path(path).resolve())
        lines.append(f"file '{link.name}'")
    list_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return list_file


def _copy(paths: list[Path], tmp: Path, work: Path) -> list[dict[str, Any]]:
    """Stream-copy concat into `tmp` and describe every input (to decide if the copy stands).

    When the MP4 headers alone prove the clips compatible, this is the plain concat command,
    and its own report of the first input describes them all. Otherwise the same ffmpeg run
    also lists every input's packets and codec parameters (framecrc) for `_incompatibility`.
    """
    list_file = write_concat_list(paths, work / "list.txt")
    frames = _matching_mp4_headers(paths)
    if frames is not None:
        proc = run_ffmpeg([*CONCAT_INPUT, "-i", list_file, *COPY_OUTPUT, "-y", tmp],
                          what="stream-copy concat")
        first = describe(paths[0], proc.stderr.decode("utf-8", "replace"), 0, StreamScan())
        fps, counts = frames
        return [{**first, "path": str(p), "frames": n, "fps": fps} for p, n in zip(paths, counts)]
    inputs = [arg for p in paths for arg in ("-i", ffmpeg_arg(p))]
    maps = [arg for i in range(len(paths)) for arg in ("-map", f"{i + 1}:v:0")]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *CONCAT_INPUT, "-i", ffmpeg_arg(list_file),
           *inputs, *COPY_OUTPUT, "-y", ffmpeg_arg(tmp), *maps, "-c", "copy", "-f", "framecrc", "pipe:1"]
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


@dataclass(frozen=True)
class _Track:
    handler: bytes  # b"vide", b"soun", ...
    sample_entry: bytes  # stsd: codec, size and codec parameters (avcC), less bit rates
    timescale: int
    stts: tuple[tuple[int, int], ...]  # (sample count, sample duration) runs


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the ISO BMFF boxes in data[start:end]."""
    end = len(data) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start + header, start + size
        start += size


def _child(data: bytes, box: tuple[int, int], kind: bytes) -> tuple[int, int] | None:
    for found, begin, end in _boxes(data, *box):
        if found == kind:
            return begin, end
    return None


def _mp4_tracks(path: Path) -> list[_Track] | None:
    """The tracks of an MP4/MOV file from its `moov` box, or None if it has no readable one."""
    with open(path, "rb") as f:
        head = f.read(16)
        pos = 0
        while len(head) >= 8:
            size, kind = struct.unpack_from(">I4s", head)
            if size == 1 and len(head) >= 16:
                size = struct.unpack_from(">Q", head, 8)[0]
            elif size < 8:
                return None
            if kind == b"moov":
                if size > 64 << 20:
                    return None
                f.seek(pos)
                data = f.read(size)
                break
            pos += size
            f.seek(pos)
            head = f.read(16)
        else:
            return None
    tracks = []
    for kind, begin, end in _boxes(data, 8, len(data)):
        if kind != b"trak":
            continue
        mdia = _child(data, (begin, end), b"mdia")
        mdhd = mdia and _child(data, mdia, b"mdhd")
        hdlr = mdia and _child(data, mdia, b"hdlr")
        minf = mdia and _child(data, mdia, b"minf")
        stbl = minf and _child(data, minf, b"stbl")
        stsd = stbl and _child(data, stbl, b"stsd")
        stts = stbl and _child(data, stbl, b"stts")
        if not (mdhd and hdlr and stsd and stts):
            return None
        version = data[mdhd[0]]
        timescale = struct.unpack_from(">I", data, mdhd[0] + (20 if version == 1 else 12))[0]
        runs = struct.unpack_from(">I", data, stts[0] + 4)[0]
        stts_runs = tuple(struct.unpack_from(">II", data, stts[0] + 8 + 8 * i)
                          for i in range(runs))
        handler = data[hdlr[0] + 8:hdlr[0] + 12]
        tracks.append(_Track(handler, _sample_description(data, stsd, handler), timescale,
                             stts_runs))
    return tracks


VISUAL_SAMPLE_ENTRY = 78  # bytes of fixed fields before a video sample entry's child boxes


def _sample_description(data: bytes, stsd: tuple[int, int], handler: bytes) -> bytes:
    """The stsd payload without video entries' `btrt` boxes: bit rates differ from clip to
    clip while the codec parameters are the same."""
    out = bytearray(data[stsd[0]:stsd[0] + 8])
    for kind, begin, end in _boxes(data, stsd[0] + 8, stsd[1]):
        fixed = VISUAL_SAMPLE_ENTRY if handler == b"vide" else end - begin
        out += struct.pack(">I", end - begin) + kind + data[begin:begin + fixed]
        for child, child_begin, child_end in _boxes(data, begin + fixed, end):
            if child != b"btrt":
                out += struct.pack(">I", child_end - child_begin) + child
                out += data[child_begin:child_end]
    return bytes(out)


def _matching_mp4_headers(paths: list[Path]) -> tuple[float, list[int]] | None:
    """(fps, frames of each clip) when the clips' MP4 headers prove them stream-copy
    compatible: the same tracks with byte-identical sample descriptions (codec, size, codec
    parameters) and one constant video frame duration. None when they do not, or when a file
    is not an MP4 this reader follows: then ffmpeg decides."""
    try:
        tracks = [_mp4_tracks(p) for p in paths]
    except (OSError, struct.error):
        return None
    if any(not t for t in tracks):
        return None
    layout = [(t.handler, t.sample_entry, t.timescale) for t in tracks[0]]
    if any([(t.handler, t.sample_entry, t.timescale) for t in clip] != layout
           for clip in tracks[1:]):
        return None
    video = [i for i, t in enumerate(tracks[0]) if t.handler == b"vide"]
    if len(video) != 1:
        return None
    durations = {d for clip in tracks for _, d in clip[video[0]].stts}
    if len(durations) != 1 or 0 in durations:
        return None
    fps = tracks[0][video[0]].timescale / durations.pop()
    return round(fps, 6), [sum(n for n, _ in clip[video[0]].stts) for clip in tracks]


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
    args = [arg for info in infos for arg in ("-i", Path(info["path"]))]
    args += ["-filter_complex", ";".join(graph), "-map", video]
    if audio:
        args += ["-map", sound, "-c:a", "aac", "-b:a", "192k"]
    args += ["-c:v", "libx264", "-crf", str(quality), "-preset", preset, "-pix_fmt", "yuv420p",
             "-r", fps, "-movflags", "+faststart", "-f", "mp4", "-y", tmp]
    run_ffmpeg(args, what="re-encoding concat")


def _check_crossfade(crossfade: float, durations: list[float], infos) -> None:
    """Each joint's fade must fit in the clips around it (a middle clip holds two fades)."""
    if crossfade <= 0 or len(durations) < 2:
        return
    limits = [d if i in (0, len(durations) - 1) else d / 2 for i, d in enumerate(durations)]
    shortest = min(range(len(limits)), key=limits.__getitem__)
    if crossfade >= limits[shortest]:
        raise InputError(
            f"crossfade of {crossfade:g}s does not fit: {Path(infos[shortest]['path']).name!r} "
            f"lasts {durations[shortest]:.3g}s; accepted: less than {limits[shortest]:.3g}s"
        )
