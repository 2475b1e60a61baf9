"""What a notebook shows of a generation: the video, a summary, figures and the manifest.

The notebooks (and `svlab.face.ui.GenerationPanel`) stay thin by calling these helpers. Figures are shown as PNG images (not live
pyplot figures) so that a headless run (papermill, nbval) and the HTML report show exactly
what JupyterLab shows; the video is embedded as base64, so a report is one self-contained file.
ipywidgets, IPython and matplotlib are imported where they are used: `import svlab` stays
light and works without the notebook extras.
"""

from __future__ import annotations

import html
import io
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image

from svlab.core.config import VideoConfig
from svlab.run.settings import load_config
from svlab.core.errors import InputError
from svlab.face.figures import TINY_FRAME, frame_strip, stage_chart
from svlab.media.images import fit_image

log = logging.getLogger(__name__)

VIDEO_WIDTH = 384  # on-screen width of the inline video; tiny clips are scaled up to it
# Tiny clips are enlarged pixel for pixel: the browser's default smoothing turns them to mush.
PIXELATED = "image-rendering: pixelated"


def demo_image(width: int = 256, height: int = 256) -> Image.Image:
    """A built-in conditioning picture, so that a demo needs no file and no download:
    scikit-image's photograph of Chelsea the cat (CC0, by Stefan van der Walt; a picture the
    `mini` model never saw in training), cropped to the aspect and resized."""
    from skimage.data import chelsea

    image = fit_image(Image.fromarray(chelsea()), width, height)
    image.info["filename"] = "svlab demo image"
    return image


def config_from(profile: str, **settings: Any) -> VideoConfig:
    """The profile's config with the settings that were given; a setting left at None keeps
    the profile's value (a notebook's parameters cell says `num_frames = None`)."""
    return load_config(profile, overrides={k: v for k, v in settings.items() if v is not None})


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted.key, value) rows, in order."""
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, name + "."))
        else:
            rows.append((name, value))
    return rows


def manifest_table(manifest: Mapping[str, Any]) -> str:
    """The manifest as HTML, collapsed: one folded section for the settings and outcome (its
    top-level values), then one per nested section (stages, output, inputs, environment, ...),
    each a `setting | value` table. Plain `<details>`: works in reports without scripts."""
    groups: dict[str, list[tuple[str, Any]]] = {"settings and outcome": []}
    for key, value in manifest.items():
        if isinstance(value, Mapping) and value:
            groups[key] = flatten(value, key + ".")
        else:
            groups["settings and outcome"].append((key, value))
    sections = "".join(
        f"<details><summary>{html.escape(name)} ({len(rows)})</summary>{_rows_table(rows)}"
        "</details>" for name, rows in groups.items() if rows)
    total = sum(len(rows) for rows in groups.values())
    return (f"<details class='svlab-manifest'><summary><b>manifest</b>: {total} entries in "
            f"{len(groups)} sections</summary><div style='margin-left:1em'>{sections}</div>"
            "</details>")


def _rows_table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><td style='text-align:left'><code>{html.escape(k)}</code></td>"
        f"<td style='text-align:left'>{html.escape(_format(v))}</td></tr>" for k, v in rows)
    return (f"<table><thead><tr><th style='text-align:left'>setting</th>"
            f"<th style='text-align:left'>value</th></tr></thead><tbody>{cells}</tbody></table>")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value) if value else "[]"
    return str(value)


def figure_png(fig) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def show_figure(fig, alt: str = "") -> None:
    """Display a Figure as a PNG image (the same in JupyterLab, papermill and nbconvert)."""
    from IPython.display import Image as IPImage, display

    display(IPImage(data=figure_png(fig), format="png", alt=alt or None))


def show_video(path: str | Path, width: int = VIDEO_WIDTH, *, pixelated: bool = False) -> None:
    """Display a video inline, embedded as base64 (a report stays one file). `pixelated`
    enlarges it with nearest neighbour, for tiny clips."""
    from IPython.display import Video, display

    style = f' style="{PIXELATED}"' if pixelated else ""
    display(Video(str(path), embed=True, mimetype="video/mp4", width=width,
                  html_attributes=f"controls loop autoplay muted playsinline{style}"))


def result_summary(result) -> str:
    """One HTML line: where the video is, what it holds, which engine made it (and why)."""
    m = result.manifest
    out = m["output"]
    line = (f"<b>{html.escape(str(result.video_path))}</b>: {out['frames']} frames, "
            f"{out['width']}x{out['height']} at {out['fps']:g} fps ({out['duration']:g} s); "
            f"engine <b>{html.escape(m['engine'])}</b>")
    if m.get("fallback_reason"):
        line += f" because {html.escape(m['fallback_reason'])}"
    if out["width"] < TINY_FRAME:
        scale = VIDEO_WIDTH / out["width"]
        line += f"<br><small>shown {scale:g}x larger, nearest neighbour (every pixel a block)</small>"
    return line


def show_result(result, frames: int = 8) -> None:
    """Everything about one generation: the video, a summary line, a strip of frames, where
    time and memory went, and the manifest (folded)."""
    from IPython.display import HTML, display

    show_video(result.video_path, pixelated=result.manifest["output"]["width"] < TINY_FRAME)
    display(HTML(result_summary(result)))
    show_figure(frame_strip(result.frames, frames), alt="frames of the video")
    show_figure(stage_chart(result.manifest), alt="seconds and memory per stage")
    display(HTML(manifest_table(result.manifest)))


def thumbnail_png(image: Image.Image | np.ndarray, width: int = 128) -> bytes:
    """A small PNG of an image or frame; tiny ones are enlarged with nearest neighbour."""
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    height = max(1, round(image.height * width / image.width))
    resample = Image.Resampling.NEAREST if image.width < width else Image.Resampling.LANCZOS
    buffer = io.BytesIO()
    image.resize((width, height), resample).save(buffer, format="PNG")
    return buffer.getvalue()


def image_from_upload(upload: Mapping[str, Any]) -> Image.Image:
    """The image in one FileUpload entry (ipywidgets 8: name, type, size, content, ...); its
    file name is kept in `image.info["filename"]` for the manifest."""
    name = upload.get("name", "upload")
    try:
        with Image.open(io.BytesIO(bytes(upload["content"]))) as f:
            image = f.convert("RGB")
    except (OSError, ValueError, KeyError):
        raise InputError(f"uploaded file {name!r} is not an image Pillow can read; accepted: "
                         "PNG, JPEG, WebP and the other formats Pillow reads") from None
    image.info["filename"] = name
    return image


def differences_table(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """The settings and results where two manifests differ (times and environment aside)."""
    skip = ("created", "environment.", "stages.", "inputs.", "output.video", "model_info.")
    left, right = dict(flatten(a)), dict(flatten(b))
    rows = [(k, left.get(k), right.get(k)) for k in dict.fromkeys([*left, *right])
            if not k.startswith(skip) and left.get(k) != right.get(k)]
    cells = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(str(x))}</td>"
                    f"<td>{html.escape(str(y))}</td></tr>" for k, x, y in rows)
    return ("<style>.svlab-differences td, .svlab-differences th {padding: 0 1.5em 0 0; "
            "text-align: left}</style><table class='svlab-differences'><tr><th>differs</th>"
            "<th>left</th><th>right</th>"
            f"</tr>{cells or '<tr><td colspan=3>same settings</td></tr>'}</table>")
