"""What Jupyter shows: display helpers for a generation result, and `GenerationPanel`, an
ipywidgets front end to `svlab.generate` for JupyterLab.

The notebooks stay thin by calling these helpers. Figures are shown as PNG images (not live
pyplot figures) so that a headless run (papermill, nbval) and the HTML report show exactly
what JupyterLab shows; the video is embedded as base64, so a report is one self-contained file.
ipywidgets, IPython and matplotlib are imported where they are used: `import svlab` stays
light and works without the notebook extras.
"""

from __future__ import annotations

import html
import io
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image, ImageDraw

from .config import PROFILES, load_config
from .errors import InputError, SvlabError
from .models import list_specs
from .service import generate

log = logging.getLogger(__name__)

VIDEO_WIDTH = 384  # on-screen width of the inline video; tiny clips are scaled up to it


def demo_image(width: int = 256, height: int = 256) -> Image.Image:
    """A built-in conditioning image: a sunset sky over two hills, drawn with Pillow, so a
    demo needs no file and no download."""
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    top, bottom = np.array([40, 60, 150]), np.array([250, 170, 90])
    sky = (top + (bottom - top) * y).repeat(width, axis=1)
    image = Image.fromarray(sky.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    r = min(width, height) // 8
    cx, cy = width * 0.62, height * 0.55
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 230, 120))
    draw.polygon([(0, height * 0.7), (width * 0.35, height * 0.5), (width * 0.8, height),
                  (0, height)], fill=(40, 90, 50))
    draw.polygon([(width * 0.3, height), (width * 0.75, height * 0.62), (width, height * 0.75),
                  (width, height)], fill=(25, 65, 40))
    return image


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
    """The manifest as an HTML table of `setting | value` rows (nested sections dotted)."""
    cells = "".join(
        f"<tr><td style='text-align:left'><code>{html.escape(k)}</code></td>"
        f"<td style='text-align:left'>{html.escape(_format(v))}</td></tr>"
        for k, v in flatten(manifest)
    )
    return (f"<table class='svlab-manifest'><thead><tr><th style='text-align:left'>setting</th>"
            f"<th style='text-align:left'>value</th></tr></thead><tbody>{cells}</tbody></table>")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value) if value else "[]"
    return str(value)


def frame_strip(frames: np.ndarray, count: int = 8):
    """A matplotlib Figure with `count` frames taken evenly from the clip, labelled by index."""
    from matplotlib.figure import Figure

    frames = np.asarray(frames)
    indices = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round()
                        .astype(int))
    height, width = frames.shape[1:3]
    fig = Figure(figsize=(1.8 * len(indices), 1.8 * height / width + 0.3), layout="constrained")
    # Small frames are enlarged: show their pixels, not a blur (and keep the PNG small).
    interpolation = "nearest" if width <= 180 else "antialiased"
    for ax, i in zip(np.atleast_1d(fig.subplots(1, len(indices))), indices):
        ax.imshow(frames[i], interpolation=interpolation)
        ax.set_title(f"frame {i}", fontsize=8)
        ax.axis("off")
    return fig


def stage_chart(manifest: Mapping[str, Any]):
    """A matplotlib Figure: seconds and peak memory per stage, from the manifest's `stages`."""
    from matplotlib.figure import Figure

    stages = manifest.get("stages") or {}
    names = list(stages)
    seconds = [stages[n].get("seconds") or 0.0 for n in names]
    peak_mib = [(stages[n].get("peak_bytes") or 0) / 2**20 for n in names]
    fig = Figure(figsize=(9, 0.45 * len(names) + 1.2), layout="constrained")
    time_ax, mem_ax = fig.subplots(1, 2, sharey=True)
    time_ax.barh(names, seconds, color="tab:blue")
    time_ax.set_xlabel("seconds")
    time_ax.invert_yaxis()
    mem_ax.barh(names, peak_mib, color="tab:orange")
    mem_ax.set_xlabel(f"peak memory, MiB ({manifest.get('device') or 'device'})")
    fig.suptitle("where the time and memory went")
    return fig


def figure_png(fig) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def show_figure(fig, alt: str = "") -> None:
    """Display a Figure as a PNG image (the same in JupyterLab, papermill and nbconvert)."""
    from IPython.display import Image as IPImage, display

    display(IPImage(data=figure_png(fig), format="png", alt=alt or None))


def show_video(path: str | Path, width: int = VIDEO_WIDTH) -> None:
    """Display a video inline, embedded as base64 (a report stays one file)."""
    from IPython.display import Video, display

    display(Video(str(path), embed=True, mimetype="video/mp4", width=width,
                  html_attributes="controls loop autoplay muted playsinline"))


def show_result(result, frames: int = 8) -> None:
    """Everything about one generation: the video, a summary line, a strip of frames, where
    time and memory went, and the manifest as a table."""
    from IPython.display import HTML, display

    m = result.manifest
    out = m["output"]
    line = (f"<b>{html.escape(str(result.video_path))}</b>: {out['frames']} frames, "
            f"{out['width']}x{out['height']} at {out['fps']:g} fps ({out['duration']:g} s); "
            f"engine <b>{html.escape(m['engine'])}</b>")
    if m.get("fallback_reason"):
        line += f" because {html.escape(m['fallback_reason'])}"
    show_video(result.video_path)
    display(HTML(line))
    show_figure(frame_strip(result.frames, frames), alt="frames of the video")
    show_figure(stage_chart(m), alt="seconds and peak memory per stage")
    display(HTML(manifest_table(m)))


def image_from_upload(upload: Mapping[str, Any]) -> Image.Image:
    """The image in one FileUpload entry (ipywidgets 8: name, type, size, content, ...)."""
    name = upload.get("name", "upload")
    try:
        with Image.open(io.BytesIO(bytes(upload["content"]))) as f:
            return f.convert("RGB")
    except (OSError, ValueError, KeyError):
        raise InputError(f"uploaded file {name!r} is not an image Pillow can read; accepted: "
                         "PNG, JPEG, WebP and the other formats Pillow reads") from None


# Panel slider -> setting name, (min, max).
SLIDERS: dict[str, tuple[str, int, int]] = {
    "frames": ("num_frames", 1, 50),
    "steps": ("num_inference_steps", 1, 100),
    "fps": ("fps", 1, 60),
    "motion_bucket": ("motion_bucket_id", 0, 1023),
    "seed": ("seed", 0, 10_000),
    "decode_chunk": ("decode_chunk_size", 0, 50),  # 0: all frames at once (None)
}


class GenerationPanel:
    """An ipywidgets panel that runs `svlab.generate`: upload an image (or write a prompt),
    pick a model and a profile, set the sliders, press Generate.

    The run happens in the button's handler, so the kernel is busy while it lasts, and the
    progress bar follows the service's callback. When it ends the panel shows the video and
    the manifest; a mistake (an SvlabError) is shown as one red line, not a traceback.
    Videos are written to `out_dir`. Display it by making it a cell's last expression.
    """

    def __init__(self, *, out_dir: str | Path = "outputs", profile: str = "cpu-tiny") -> None:
        import ipywidgets as w

        self.out_dir = Path(out_dir)
        self.result = None
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Image")
        self.prompt = w.Textarea(placeholder="or a prompt (used when no image is uploaded)",
                                 layout=w.Layout(width="100%"))
        self.profile = w.Dropdown(options=list(PROFILES), value=profile, description="Profile")
        self.model = w.Dropdown(options=["auto", *(s.id for s in list_specs()), "fallback"],
                                description="Model")
        self.sliders = {key: w.IntSlider(min=lo, max=hi, description=key.replace("_", " "),
                                         continuous_update=False)
                        for key, (_, lo, hi) in SLIDERS.items()}
        self.button = w.Button(description="Generate", button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="idle")
        self.status = w.HTML()
        self.video = w.Video(format="mp4", autoplay=True, loop=True, controls=True,
                             layout=w.Layout(width=f"{VIDEO_WIDTH}px"))
        self.manifest = w.HTML()
        self.profile.observe(lambda change: self.apply_profile(change["new"]), names="value")
        self.button.on_click(lambda _: self.generate())
        self.apply_profile(profile)
        self.widget = w.VBox([
            w.HBox([self.upload, self.profile, self.model]),
            self.prompt,
            w.HBox([w.VBox(list(self.sliders.values())[:3]),
                    w.VBox(list(self.sliders.values())[3:])]),
            w.HBox([self.button, self.progress]),
            self.status,
            self.video,
            w.Accordion([self.manifest], titles=("manifest",)),
        ])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def apply_profile(self, name: str) -> None:
        """Set the model and the sliders to a profile's values."""
        config = load_config(name)
        if config.model in self.model.options:
            self.model.value = config.model
        for key, (setting, _, hi) in SLIDERS.items():
            value = getattr(config, setting) or 0
            self.sliders[key].value = min(value, hi)

    def settings(self) -> dict[str, Any]:
        """The overrides the panel passes to `generate` (setting names, as in the manifest)."""
        values = {setting: self.sliders[key].value for key, (setting, _, _) in SLIDERS.items()}
        values["decode_chunk_size"] = values["decode_chunk_size"] or None
        return {"model": self.model.value, **values}

    def generate(self):
        """Run one generation with the panel's state; returns the result, or None after an
        error (which the panel then shows)."""
        self.button.disabled, self.result = True, None
        self.status.value, self.manifest.value, self.video.value = "", "", b""
        self.progress.value, self.progress.description = 0, "starting"
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}"
        try:
            image = image_from_upload(self.upload.value[0]) if self.upload.value else None
            out = self.out_dir / f"panel-{stamp}.mp4"
            self.result = generate(image=image, prompt=self.prompt.value.strip() or None,
                                   config=self.profile.value, out=out, callback=self._on_event,
                                   **self.settings())
        except SvlabError as e:
            self._show_error(str(e))
            return None
        except Exception as e:  # a bug: say so in the panel, keep the traceback in the log
            log.exception("generation failed")
            self._show_error(f"internal error ({type(e).__name__}: {e}); see the log")
            return None
        finally:
            self.button.disabled = False
        self.progress.description = "done"
        self.progress.value = self.progress.max
        self.video.value = Path(self.result.video_path).read_bytes()
        self.manifest.value = manifest_table(self.result.manifest)
        m, out = self.result.manifest, self.result.manifest["output"]
        why = f" ({m['fallback_reason']})" if m["fallback_reason"] else ""
        self.status.value = html.escape(f"{self.result.video_path}: {out['frames']} frames at "
                                        f"{out['fps']:g} fps, engine {m['engine']}{why}")
        return self.result

    def _on_event(self, event: Mapping[str, Any]) -> None:
        self.progress.description = str(event.get("stage", ""))
        if "steps" in event:
            self.progress.max = max(1, int(event["steps"]))
            self.progress.value = int(event.get("step", 0))

    def _show_error(self, message: str) -> None:
        self.progress.description = "failed"
        self.status.value = f"<span style='color:#c00'>error: {html.escape(message)}</span>"
