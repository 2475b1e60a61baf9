"""Finishing a video: captions (WebVTT and SRT sidecars, or burned in) and background music.

Both run through the ffmpeg that imageio-ffmpeg ships: subtitles are drawn by libass (the
`subtitles` filter) with the bundled Noto Sans CJK, so Chinese captions render on any machine;
music is looped or trimmed to the video's length, faded in and out, scaled in volume and muxed
as AAC while the video stream is copied untouched. Every output is written to a hidden file
beside the target and renamed into place, so a failed or interrupted job leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from svlab.core.errors import InputError
from svlab.core.files import atomic_output
from svlab.media.ffmpeg import check_output_path, probe, run_ffmpeg

# libass picks fonts by family name; this is the simplified-Chinese face of the bundled
# Noto Sans CJK collection, which also covers Latin, Japanese kana and Hangul.
CJK_FONT_NAME = "Noto Sans CJK SC"


@dataclass(frozen=True)
class Caption:
    """One caption: shown from `start` to `end` seconds."""

    start: float
    end: float
    text: str

    def __post_init__(self):
        if not 0 <= self.start < self.end:
            raise InputError(
                f"caption {self.text!r} must start at >= 0 s and end after it starts, "
                f"got {self.start}..{self.end}"
            )


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _one_line(text: str) -> str:
    # A blank line ends a cue in both formats, and "-->" would read as a timing line.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines).replace("-->", "->")


def format_srt(captions: Sequence[Caption]) -> str:
    """SubRip text: numbered cues, `HH:MM:SS,mmm` times."""
    cues = [
        f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{_one_line(c.text)}\n"
        for i, c in enumerate(captions, 1)
    ]
    return "\n".join(cues)


def format_vtt(captions: Sequence[Caption]) -> str:
    """WebVTT text, what a browser's <track> element reads."""
    cues = [
        f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n"
        f"{_one_line(c.text).replace('&', '&amp;').replace('<', '&lt;')}\n"
        for c in captions
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def _write_text(path: Path, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_subtitles(captions: Sequence[Caption], video: str | Path) -> dict[str, Path]:
    """Write the sidecars of `video` (X.mp4 -> X.vtt and X.srt); returns {"vtt":, "srt":}."""
    video = check_output_path(video)
    if not captions:
        raise InputError("no captions to write")
    return {
        "vtt": _write_text(video.with_suffix(".vtt"), format_vtt(captions)),
        "srt": _write_text(video.with_suffix(".srt"), format_srt(captions)),
    }


def font_dir() -> Path:
    """The folder of the bundled CJK font, handed to libass as its fonts directory."""
    import manimgx_fonts_cjk

    return Path(manimgx_fonts_cjk.__file__).parent


def _filter_value(value: str) -> str:
    """Escape a filter option value for ffmpeg's two levels of filtergraph parsing."""
    for ch in "\\':":  # option level
        value = value.replace(ch, "\\" + ch)
    for ch in "\\'[],;":  # graph level
        value = value.replace(ch, "\\" + ch)
    return value


def burn_subtitles(
    video: str | Path,
    subtitles: str | Path,
    out: str | Path,
    *,
    font_size: int = 18,
    quality: int = 18,
    pixel_format: str = "yuv420p",
) -> Path:
    """Draw the captions of an SRT/VTT file onto the video (re-encoded with x264).

    `font_size` is in libass script units (the script is 288 lines high), so captions keep
    their proportion at any resolution. Audio, if any, is copied.
    """
    video, subtitles = Path(video), Path(subtitles)
    for path, what in ((video, "video"), (subtitles, "subtitle")):
        if not path.is_file():
            raise InputError(f"{what} file {str(path)!r} does not exist")
    out = check_output_path(out)
    style = f"FontName={CJK_FONT_NAME},FontSize={font_size},Outline=1,Shadow=0,MarginV=12"
    vf = (
        f"subtitles=filename={_filter_value(str(subtitles.resolve()))}"
        f":fontsdir={_filter_value(str(font_dir()))}"
        f":force_style={_filter_value(style)}"
    )
    with atomic_output(out) as tmp:
        run_ffmpeg(
            ["-y", "-i", video, "-vf", vf, "-map", "0:v:0", "-map", "0:a?",
             "-c:v", "libx264", "-crf", quality, "-pix_fmt", pixel_format,
             "-c:a", "copy", "-movflags", "+faststart", tmp],
            what="burning subtitles",
        )
    return out


def add_music(
    video: str | Path,
    music: str | Path,
    out: str | Path,
    *,
    volume: float = 1.0,
    fade_in: float = 1.0,
    fade_out: float = 1.0,
    bitrate: str = "128k",
) -> Path:
    """Mux an audio file under the video as AAC, looped or trimmed to the video's length.

    The audio is faded in over `fade_in` seconds and out over the last `fade_out` seconds
    (each capped at half the video, so the two never overlap) and scaled by `volume`
    (1.0 keeps the level). The video stream is copied, not re-encoded; any audio the
    video already had is replaced.
    """
    video, music = Path(video), Path(music)
    for path, what in ((video, "video"), (music, "music")):
        if not path.is_file():
            raise InputError(f"{what} file {str(path)!r} does not exist")
    if not 0 <= volume <= 10:
        raise InputError(f"music volume={volume} is out of range; accepted: from 0 to 10")
    if fade_in < 0 or fade_out < 0:
        raise InputError(f"fade durations must be >= 0 s, got in={fade_in}, out={fade_out}")
    out = check_output_path(out)
    duration = probe(video)["duration"]
    if duration <= 0:
        raise InputError(f"video {str(video)!r} has no duration to put music under")
    fade_in, fade_out = min(fade_in, duration / 2), min(fade_out, duration / 2)
    chain = [f"atrim=0:{duration:.6f}", "asetpts=PTS-STARTPTS", f"volume={volume:g}"]
    if fade_in > 0:
        chain.append(f"afade=t=in:st=0:d={fade_in:.6f}")
    if fade_out > 0:
        chain.append(f"afade=t=out:st={duration - fade_out:.6f}:d={fade_out:.6f}")
    with atomic_output(out) as tmp:
        run_ffmpeg(
            ["-y", "-i", video, "-stream_loop", "-1", "-i", music,
             "-filter_complex", f"[1:a:0]{','.join(chain)}[music]",
             "-map", "0:v:0", "-map", "[music]", "-c:v", "copy",
             "-c:a", "aac", "-b:a", bitrate, "-t", f"{duration:.6f}",
             "-movflags", "+faststart", tmp],
            what="adding music",
        )
    return out
