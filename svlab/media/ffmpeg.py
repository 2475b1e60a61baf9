"""The one ffmpeg binary svlab uses (imageio-ffmpeg's), how to run it, and how to probe a file.

There is no ffprobe in imageio-ffmpeg, so `probe` reads the two things ffmpeg itself prints:
the stream header of `ffmpeg -i` (codec, pixel format, size, audio) and one `framecrc` pass
with `-c copy` over the first video stream, which lists every packet with its timestamps, so
the frame count is exact and the frame rate is the exact packet duration in the stream's time
base (not the rounded "6 fps" of the header). The pass copies packets, it decodes nothing, so it
is fast even for long clips.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import Any, Sequence

from svlab.core.errors import FFmpegError, InputError

log = logging.getLogger(__name__)

_GENERIC = ("Conversion failed!", "Exiting normally, received signal 2.")
_REPORTS = ("Input #", "Output #", "Stream mapping:", "Press [q]", "frame=", "size=")  # info
_PREFIX = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\] ")
_FAILURE = re.compile(r"error|invalid|no such|not found|unable|failed|cannot|could not|"
                      r"unknown|denied|does not", re.I)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary imageio-ffmpeg ships (IMAGEIO_FFMPEG_EXE overrides it)."""
    import shutil

    import imageio_ffmpeg

    configured = os.environ.get("IMAGEIO_FFMPEG_EXE")
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        exe = None
    if exe is None or (not (os.path.isfile(exe) and os.access(exe, os.X_OK))
                       and shutil.which(exe) is None):
        where = f"IMAGEIO_FFMPEG_EXE={configured!r} is not an executable file" if configured \
            else "imageio-ffmpeg has no ffmpeg binary for this platform"
        raise FFmpegError(f"ffmpeg is missing: {where}; unset IMAGEIO_FFMPEG_EXE to use the "
                          "ffmpeg imageio-ffmpeg ships (pip install --force-reinstall "
                          "imageio-ffmpeg), or point it to an ffmpeg binary")
    return exe


def stderr_tail(text: str, lines: int = 1) -> str:
    """What ffmpeg said went wrong, in one line: the first of its lines that name a failure
    (the cause; the lines after it are consequences), without ffmpeg's "[component @ 0x...]"
    prefixes. Its whole output goes to the log (shown with `svlab -v`)."""
    log.info("ffmpeg's output:\n%s", text.strip())
    kept = [_PREFIX.sub("", line.strip()) for line in text.splitlines()
            if line.strip() and line.strip() not in _GENERIC and not line[:1].isspace()
            and not line.startswith(_REPORTS)]
    telling = [line for line in kept if _FAILURE.search(line)]
    return " | ".join(telling[:lines] or kept[-lines:]) or "no message"


def ffmpeg_arg(arg: Any) -> str:
    """One ffmpeg argument. A Path becomes absolute, so that no file name (one starting with
    "-", or holding "name:" as a protocol would) is ever read as an option or a protocol."""
    return os.path.abspath(arg) if isinstance(arg, Path) else str(arg)


def local_inputs(args) -> list[str]:
    """`args` with every `-i` input an absolute local path (or "-", stdin): text that names a
    URL or another protocol ("http://...", "concat:...") becomes a file name under the current
    folder, which is what svlab checked; ffmpeg never opens anything else."""
    args, form = list(args), None
    for i in range(len(args) - 1):
        if args[i] == "-f":
            form = args[i + 1]
        elif args[i] == "-i":
            if args[i + 1] not in ("-", "pipe:0") and form != "lavfi":  # lavfi: a filter svlab
                args[i + 1] = os.path.abspath(args[i + 1])             # wrote, not a file
            form = None
    return args


def run_ffmpeg(args: Sequence[Any], *, what: str = "ffmpeg") -> subprocess.CompletedProcess:
    """Run ffmpeg with `args` (without the binary; file paths as Path objects) and return the
    finished process.

    Raises FFmpegError naming `what` failed, with the tail of ffmpeg's stderr.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *local_inputs(map(ffmpeg_arg, args))]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise FFmpegError(
            f"{what} failed (ffmpeg exit {proc.returncode}): "
            f"{stderr_tail(proc.stderr.decode('utf-8', 'replace'))}"
        )
    return proc


def check_output_path(path: str | Path) -> Path:
    """The output path as a Path, once we know a file can be created in its folder."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"output folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"output folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise InputError(f"output path {str(path)!r} is a folder; give a file name")
    return path


def prepare_output(path: str | Path, suffixes: tuple[str, ...] | None = None) -> Path:
    """For commands and the service, which make the output folder on the user's behalf: check
    the suffix, create the folder, then `check_output_path`. Library writers do not create
    folders; a missing one is an error there."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise InputError(f"output {str(path)!r} must end in {' or '.join(suffixes)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {str(path.parent)!r}: "
                         f"{e.strerror or e}") from None
    return check_output_path(path)



@dataclass(frozen=True)
class Packet:
    """One packet of a video stream, as ffmpeg's framecrc muxer lists it."""

    dts: int
    pts: int
    duration: int
    size: int
    checksum: str  # adler32 of the packet's bytes


@dataclass
class StreamScan:
    """What one `-c copy -f framecrc` pass tells about one video stream."""

    time_base: Fraction = Fraction(1)
    extradata: str = ""  # size and checksum of the codec's global headers (SPS/PPS for H.264)
    packets: list[Packet] = field(default_factory=list)


def parse_framecrc(text: str) -> dict[int, StreamScan]:
    """framecrc output, by output stream index."""
    streams: dict[int, StreamScan] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            name, _, index = key.partition(" ")
            if name == "tb":
                streams.setdefault(int(index), StreamScan()).time_base = Fraction(value.strip())
            elif name == "extradata":
                streams.setdefault(int(index), StreamScan()).extradata = value.strip()
        elif line:
            f = [v.strip() for v in line.split(",")]
            streams.setdefault(int(f[0]), StreamScan()).packets.append(
                Packet(int(f[1]), int(f[2]), int(f[3]), int(f[4]), f[5]))
    return streams


def check_input_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video file {str(path)!r} does not exist")
    if not os.access(path, os.R_OK):
        raise InputError(f"video file {str(path)!r} is not readable")
    return path


def scan_args(paths: Sequence[str | Path]) -> list[str]:
    """Inputs plus a framecrc output of each first video stream (copied, not decoded)."""
    args = []
    for path in paths:
        args += ["-i", ffmpeg_arg(Path(path))]
    for i in range(len(paths)):
        args += ["-map", f"{i}:v:0"]
    return args + ["-c", "copy", "-f", "framecrc", "pipe:1"]


def scan(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """probe() of several files in one ffmpeg run."""
    paths = [check_input_file(p) for p in paths]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *scan_args(paths)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        if "matches no streams" in err:
            for i, path in enumerate(paths):
                if not _VIDEO.search(input_header(err, i)):
                    raise InputError(f"{str(path)!r} has no video stream")
        names = ", ".join(repr(str(p)) for p in paths)
        raise InputError(f"cannot read video file{'s' if len(paths) > 1 else ''} {names}: "
                         f"{stderr_tail(err, 1)}")
    damaged = _DAMAGED.search(err)
    if damaged:
        raise InputError(f"{str(paths[int(damaged['input'])])!r} is unreadable: "
                         f"{damaged['what']} (a truncated or damaged file)")
    streams = parse_framecrc(proc.stdout.decode("ascii", "replace"))
    return [describe(path, err, i, streams.get(i, StreamScan())) for i, path in enumerate(paths)]


def packets(path: str | Path) -> list[Packet]:
    """Every packet of the first video stream, in file order, without decoding.

    Two files whose packet lists have equal checksums hold the same encoded frames: this is
    how tests tell a stream copy from a re-encode.
    """
    return scan([path])[0]["packets"]


_INPUT = re.compile(r"^Input #(\d+), ", re.M)
_DAMAGED = re.compile(r"\[in#(?P<input>\d+)/[^\]]*\] (?P<what>corrupt input packet|"
                      r"stream \d+, offset \w+: partial file)")
_VIDEO = re.compile(
    r"Stream #\d+:\d+\S*: Video: (?P<codec>\w+)[^,]*, (?P<pix>\w+)(?:\([^)]*\))?, "
    r"(?P<w>\d+)x(?P<h>\d+)(?P<rest>.*)"
)
_AUDIO = re.compile(r"Stream #\d+:\d+\S*: Audio: (?P<codec>\w+)(?P<rest>.*)")
_AUDIO_FORMAT = re.compile(r", (?P<rate>\d+) Hz, (?P<layout>[\w.()]+)")
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_HEADER_FPS = re.compile(r", ([\d.]+k?) (?:fps|tbr)")


def input_header(stderr: str, index: int) -> str:
    """ffmpeg's description of input `index` in its stderr."""
    text = stderr.split("Stream mapping:")[0]
    starts = [(int(m.group(1)), m.start()) for m in _INPUT.finditer(text)] + [(-1, len(text))]
    for (i, begin), (_, end) in zip(starts, starts[1:]):
        if i == index:
            return text[begin:end]
    return ""


def describe(path: Path, stderr: str, index: int, stream: StreamScan) -> dict[str, Any]:
    """The probe() dict of input `index`, from ffmpeg's stderr and its framecrc stream."""
    header = input_header(stderr, index)
    video = _VIDEO.search(header)
    if video is None:
        raise InputError(f"cannot find a video stream description in {str(path)!r}")
    audio = _AUDIO.search(header)
    sound = _AUDIO_FORMAT.search(audio["rest"]) if audio else None
    durations = [p.duration for p in stream.packets if p.duration > 0]
    if durations:
        fps = float(1 / (median(durations) * stream.time_base))
    else:  # elementary streams carry no packet durations: fall back on the header's rate
        rate = _HEADER_FPS.search(video["rest"])
        fps = float(rate.group(1).replace("k", "e3")) if rate else 0.0
    frames = len(stream.packets)
    duration = _DURATION.search(header)
    if duration:
        h, m, s = duration.groups()
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    else:
        seconds = frames / fps if fps else 0.0
    return {
        "path": str(path),
        "codec": video["codec"],
        "pixel_format": video["pix"],
        "width": int(video["w"]),
        "height": int(video["h"]),
        "fps": round(fps, 6),
        "frames": frames,
        "duration": seconds,
        "has_audio": audio is not None,
        "audio_codec": audio["codec"] if audio else None,
        "audio_sample_rate": int(sound["rate"]) if sound else None,
        "audio_channels": _channels(sound["layout"]) if sound else None,
        "size_bytes": path.stat().st_size,
        "extradata": stream.extradata,
        "packets": stream.packets,
    }


def _channels(layout: str) -> int | None:
    """Channels of an ffmpeg channel layout name ("stereo", "5.1(side)", "3 channels")."""
    name = layout.split("(")[0]
    if name in _LAYOUTS:
        return _LAYOUTS[name]
    return int(name) if name.isdigit() else None


def probe(path: str | Path) -> dict[str, Any]:
    """Facts about a video file, as ffprobe would give them.

    Returns codec, pixel_format, width, height, fps (exact, from packet timing), frames
    (counted packets of the first video stream), duration (seconds: the container's, else
    frames / fps), has_audio, audio_codec, audio_sample_rate and audio_channels (None without
    audio) and size_bytes. A missing or
    unreadable file, or one without video, raises InputError.
    """
    info = scan([path])[0]
    del info["extradata"], info["packets"]
    return info
