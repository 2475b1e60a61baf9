"""Videos side by side: a grid video (ffmpeg's xstack) and a contact sheet (PNG).

In the grid every tile is one video, scaled to fit one tile size (never distorted), under a
band with its label in a CJK-capable font (the bundled Noto Sans CJK, `find_font`: settings
and prompts may be Chinese). The tiles are synchronised: each is resampled to the fastest
frame rate among them, and a shorter one holds its last frame until the longest ends.

The contact sheet has a row per video and a column per sampled frame (evenly spaced from the
first to the last), with the label at the left of each row.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from svlab.core.errors import InputError
from svlab.core.files import atomic_output
from svlab.media.ffmpeg import prepare_output, probe, run_ffmpeg
from svlab.media.placeholder import load_font, wrap_text
from svlab.media.video_io import read_video

MIN_TILE_WIDTH = 192  # tiny clips are scaled up so that their labels can be read
MAX_TILES = 64
BAND_COLOR = (24, 24, 28)
TEXT_COLOR = (235, 235, 235)


def check_count(count: int) -> None:
    """InputError unless 1 to MAX_TILES videos are to be shown together."""
    if count < 1:
        raise InputError("nothing to put side by side: no videos")
    if count > MAX_TILES:
        raise InputError(f"{count} videos are too many to show together; accepted: at most "
                         f"{MAX_TILES} (choose fewer runs)")


def grid_layout(count: int, columns: int | None = None) -> tuple[int, int]:
    """(columns, rows) of `count` tiles: `columns` if given, else as square as possible."""
    check_count(count)
    if columns is not None and columns < 1:
        raise InputError(f"columns must be >= 1, got {columns}")
    cols = min(columns or math.ceil(math.sqrt(count)), count)
    return cols, math.ceil(count / cols)


def side_by_side(videos: Sequence[str | Path], labels: Sequence[str], out: str | Path, *,
                 columns: int | None = None, tile_width: int | None = None,
                 quality: int = 18) -> dict:
    """Write the grid video of `videos` (labelled by `labels`) to `out` (MP4, atomically);
    returns its layout: columns, rows, tile size, fps and frame count."""
    if len(videos) != len(labels):
        raise InputError(f"{len(videos)} videos but {len(labels)} labels")
    cols, rows = grid_layout(len(videos), columns)
    infos = [probe(v) for v in videos]
    width, height = _tile_size(infos, tile_width)
    fps = max(info["fps"] for info in infos)
    frames = max(round(info["frames"] * fps / info["fps"]) for info in infos)
    font = _label_font(width)
    wrapped = [wrap_text(label, font, width - 8) for label in labels]
    band = _even(max(len(lines) for lines in wrapped) * _line_height(font) + 8)
    out = prepare_output(out, (".mp4",))
    with tempfile.TemporaryDirectory(prefix=f".{out.stem}.", dir=out.parent) as work:
        label_files = []
        for i, lines in enumerate(wrapped):
            label_files.append(Path(work) / f"label{i}.png")
            _label_band(lines, font, width, band).save(label_files[-1])
        args = [a for v in videos for a in ("-i", str(v))]
        args += [a for f in label_files for a in ("-loop", "1", "-framerate", f"{fps:g}",
                                                   "-i", str(f))]
        graph = _filter_graph(len(videos), cols, width, height, band, fps)
        with atomic_output(out) as tmp:
            run_ffmpeg([*args, "-filter_complex", graph, "-map", "[grid]", "-frames:v",
                        str(frames), "-c:v", "libx264", "-crf", str(quality), "-pix_fmt",
                        "yuv420p", "-r", f"{fps:g}", "-movflags", "+faststart", "-y", str(tmp)],
                       what=f"writing the grid {out.name}")
    return {"columns": cols, "rows": rows, "tile_width": width, "tile_height": height + band,
            "band": band, "fps": fps, "frames": frames, "width": cols * width,
            "height": rows * (height + band)}


def contact_sheet(videos: Sequence[str | Path], labels: Sequence[str], out: str | Path, *,
                  frames: int = 8, thumb_width: int | None = None) -> dict:
    """Write a PNG with a row per video and a column per sampled frame; returns its size."""
    if len(videos) != len(labels):
        raise InputError(f"{len(videos)} videos but {len(labels)} labels")
    if frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}")
    check_count(len(videos))
    clips = [read_video(v)[0] for v in videos]
    frames = min(frames, max(len(c) for c in clips))  # no column twice the same frame
    width, height = _tile_size([{"width": c.shape[2], "height": c.shape[1]} for c in clips],
                               thumb_width, minimum=96)
    font = _label_font(max(width, 160))
    wrapped = [wrap_text(label, font, 200) for label in labels]
    label_width = min(240, int(max(font.getlength(line) for lines in wrapped
                                   for line in lines)) + 16)
    gap = 4
    sheet = Image.new("RGB", (label_width + frames * (width + gap),
                              len(clips) * (height + gap) + gap), BAND_COLOR)
    draw = ImageDraw.Draw(sheet)
    for row, (clip, lines) in enumerate(zip(clips, wrapped)):
        top = gap + row * (height + gap)
        for i, line in enumerate(lines):
            draw.text((8, top + 4 + i * _line_height(font)), line, font=font, fill=TEXT_COLOR)
        for col, index in enumerate(np.linspace(0, len(clip) - 1, frames).round().astype(int)):
            thumb = _fit(Image.fromarray(clip[index]), width, height)
            sheet.paste(thumb, (label_width + col * (width + gap), top))
    out = prepare_output(out, (".png",))
    with atomic_output(out) as tmp:
        sheet.save(tmp)
    return {"width": sheet.width, "height": sheet.height, "rows": len(clips), "columns": frames}


def _tile_size(infos: Sequence[dict], tile_width: int | None, minimum: int = MIN_TILE_WIDTH
               ) -> tuple[int, int]:
    """An even tile size that holds every video scaled to `tile_width` (default: the widest
    video, at least `minimum`), aspect ratios kept."""
    if tile_width is not None and tile_width < 16:
        raise InputError(f"tile width must be >= 16 pixels, got {tile_width}")
    width = _even(tile_width or max(minimum, max(i["width"] for i in infos)))
    height = _even(max(round(i["height"] * width / i["width"]) for i in infos))
    return width, height


def _filter_graph(count: int, cols: int, width: int, height: int, band: int, fps: float) -> str:
    """Each video resampled, fitted, padded to its tile with a band on top, held at its end,
    its label laid on the band; then all tiles stacked in rows of `cols`."""
    parts = []
    for i in range(count):
        parts.append(
            f"[{i}:v]fps={fps:g},scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height + band}:({width}-iw)/2:{band}+({height}-ih)/2:color=black,"
            f"setsar=1,tpad=stop=-1:stop_mode=clone,format=yuv420p[v{i}];"
            f"[v{i}][{count + i}:v]overlay=0:0:format=auto[t{i}]")
    tiles = "".join(f"[t{i}]" for i in range(count))
    if count == 1:
        parts.append("[t0]null[grid]")
    else:
        layout = "|".join(f"{(i % cols) * width}_{(i // cols) * (height + band)}"
                          for i in range(count))
        parts.append(f"{tiles}xstack=inputs={count}:layout={layout}:fill=black[grid]")
    return ";".join(parts)


def _label_font(tile_width: int):
    return load_font(max(11, min(18, tile_width // 14)))


def _line_height(font) -> int:
    return round(font.size * 1.3)


def _label_band(lines: list[str], font, width: int, height: int) -> Image.Image:
    band = Image.new("RGB", (width, height), BAND_COLOR)
    draw = ImageDraw.Draw(band)
    for i, line in enumerate(lines):
        draw.text((4, 4 + i * _line_height(font)), line, font=font, fill=TEXT_COLOR)
    return band


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` scaled to fit (width, height), centred on black."""
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    box = Image.new("RGB", (width, height))
    box.paste(image.resize(size, Image.Resampling.LANCZOS),
              ((width - size[0]) // 2, (height - size[1]) // 2))
    return box


def _even(n: float) -> int:
    return int(math.ceil(n / 2) * 2)
