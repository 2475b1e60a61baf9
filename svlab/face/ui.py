"""`GenerationPanel`: an ipywidgets front end to `svlab.generate` for JupyterLab, the tool a
researcher keeps open beside the notebooks.

Upload an image (or write a prompt; without either the built-in demo image is used), choose
the profile, model, size and the sliders, press Generate. The run happens in a background
thread, so the kernel stays free: Stop is answered at the next progress event (each
denoising step), the run ends cleanly with nothing written, and the panel says where it
stopped. Every run lands in a small gallery (a new panel on the same folder shows its latest
runs again, from the run index); tick two to compare them side by side with the settings that
differ. ipywidgets is imported when a panel is made.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from svlab.core.config import profile_names
from svlab.run.settings import load_config
from svlab.face.display import (
    PIXELATED, VIDEO_WIDTH, demo_image, differences_table, image_from_upload, manifest_table,
    result_summary, thumbnail_png,
)
from svlab.core.errors import InputError, SvlabError
from svlab.core.records import GenerationResult
from svlab.core.run_index import find
from svlab.face.figures import TINY_FRAME
from svlab.media import read_video
from svlab.models import list_specs
from svlab.render.service import generate as generate_video

log = logging.getLogger(__name__)

# Panel slider -> setting name, (min, max, step).
SLIDERS: dict[str, tuple[str, int, int, int]] = {
    "width": ("width", 16, 1024, 8),
    "height": ("height", 16, 1024, 8),
    "frames": ("num_frames", 1, 50, 1),
    "steps": ("num_inference_steps", 1, 100, 1),
    "fps": ("fps", 1, 60, 1),
    "motion bucket": ("motion_bucket_id", 0, 1023, 1),
    "seed": ("seed", 0, 10_000, 1),
    "decode chunk": ("decode_chunk_size", 0, 50, 1),  # 0: all frames at once (None)
}
LABEL_WIDTH = "9em"  # wide enough for every slider's name: none is cut off
THUMB_WIDTH = 112
GALLERY_RUNS = 12  # the latest runs a new panel shows again from the run index
STYLE = f"<style>.svlab-pixelated {{ {PIXELATED}; }}</style>"


class RunStopped(Exception):
    """Raised from the progress callback when Stop was pressed: the service unwinds, writes
    nothing, and the panel reports where the run was."""


@dataclass
class PanelRun:
    """One finished run of this session, as the gallery shows it."""

    name: str
    video_path: Path
    manifest: dict[str, Any]
    thumbnail: bytes
    seconds: float


def output_name(source: str, settings: Mapping[str, Any], clock: float | None = None) -> str:
    """A file name that says what was made: source, model, size, frames, steps, seed, time;
    e.g. `sunset_tiny_64x64_8f_4steps_seed42_153012.mp4`."""
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", Path(source).stem).strip("-")[:24] or "image"
    s = settings
    stamp = time.strftime("%H%M%S", time.localtime(clock))
    return (f"{stem}_{s['model']}_{s['width']}x{s['height']}_{s['num_frames']}f_"
            f"{s['num_inference_steps']}steps_seed{s['seed']}_{stamp}.mp4")


class GenerationPanel:
    """The panel; display it by making it a cell's last expression. Videos go to `out_dir`;
    `result` is the last run's `GenerationResult`, `history` every finished run."""

    def __init__(self, *, out_dir: str | Path = "outputs", profile: str = "cpu-tiny",
                 model: str | None = None) -> None:
        import ipywidgets as w

        self.out_dir = Path(out_dir)
        self.result = None
        self.history: list[PanelRun] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._event: dict[str, Any] = {}
        label = {"description_width": LABEL_WIDTH}
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Image")
        self.preview = w.Image(format="png", layout=w.Layout(width=f"{THUMB_WIDTH}px"))
        self.preview_note = w.HTML()
        self.prompt = w.Textarea(placeholder="or a prompt (used when no image is uploaded)",
                                 layout=w.Layout(width="100%"))
        column = w.Layout(width=f"calc({LABEL_WIDTH} + 13em)")  # label + control: two columns fit
        self.profile = w.Dropdown(options=profile_names(), value=profile,
                                  description="profile", style=label, layout=column)
        self.model = w.Dropdown(options=["auto", *(s.id for s in list_specs()), "fallback"],
                                description="model", style=label, layout=column)
        self.sliders = {key: w.IntSlider(min=lo, max=hi, step=step, description=key,
                                         continuous_update=False, style=label, layout=column)
                        for key, (_, lo, hi, step) in SLIDERS.items()}
        self.button = w.Button(description="Generate", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1)
        self.stage = w.HTML("idle")
        self.status = w.HTML()
        self.video = w.Video(format="mp4", autoplay=True, loop=True, controls=True,
                             layout=w.Layout(width=f"{VIDEO_WIDTH}px", display="none"))
        self.manifest = w.HTML()
        self.gallery = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.compare = w.VBox()
        self._chosen: list[int] = []
        self._boxes: list[Any] = []
        self.profile.observe(lambda change: self.apply_profile(change["new"]), names="value")
        self.upload.observe(lambda change: self.show_preview(), names="value")
        self.button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.apply_profile(profile, model)
        self.show_preview()
        self.widget = self._layout(w)
        self.widget.add_class("svlab-panel")  # classes for styles and the browser tests
        for name in ("stage", "status", "gallery", "compare", "video", "preview"):
            getattr(self, name).add_class(f"svlab-{name}")
        self._reload_history()

    def _layout(self, w):
        sliders = list(self.sliders.values())
        return w.VBox([
            w.HTML(STYLE),
            w.HBox([w.VBox([self.upload, self.preview, self.preview_note],
                           layout=w.Layout(width=f"{THUMB_WIDTH + 40}px")),
                    w.VBox([self.profile, self.model, *sliders[:3]]),
                    w.VBox(sliders[3:])]),
            self.prompt,
            w.HBox([self.button, self.stop_button, self.progress, self.stage]),
            self.status,
            self.video,
            w.Accordion([self.manifest], titles=("manifest",)),
            w.HTML("<b>This session's runs</b> (tick two to compare them)"),
            self.gallery,
            self.compare,
        ])

    def _repr_mimebundle_(self, **kwargs):
        """The widget, plus a static `text/html` note that pages without a live kernel (an
        HTML report) show in its place."""
        return {**self.widget._repr_mimebundle_(**kwargs), "text/html": self.static_html()}

    def static_html(self) -> str:
        """What the panel is, for a page where it cannot run."""
        s = self.settings()
        return ("<div class='svlab-panel-static' style='border:1px solid #bbb;padding:.4em .8em'>"
                "<b>Generation panel</b>: interactive in JupyterLab (run this notebook there). "
                f"It opens at profile {html.escape(self.profile.value)}, model "
                f"{html.escape(s['model'])}, {s['width']}x{s['height']}, {s['num_frames']} "
                f"frames, {s['num_inference_steps']} steps.</div>")

    def apply_profile(self, name: str, model: str | None = None) -> None:
        """Set the model and the sliders to a profile's values, or to `model`'s own (its size,
        frames and steps) over the profile's when a model is given."""
        config = load_config(name, {"model": model} if model else None)
        if config.model in self.model.options:
            self.model.value = config.model
        for key, (setting, _, hi, _) in SLIDERS.items():
            self.sliders[key].value = min(getattr(config, setting) or 0, hi)

    def settings(self) -> dict[str, Any]:
        """The overrides the panel passes to `generate` (setting names, as in the manifest)."""
        values = {setting: self.sliders[key].value for key, (setting, *_) in SLIDERS.items()}
        values["decode_chunk_size"] = values["decode_chunk_size"] or None
        return {"model": self.model.value, **values}

    def source(self) -> tuple[Any, str]:
        """(image or None, a name for it): the upload, else None when a prompt is written,
        else the built-in demo image."""
        if self.upload.value:
            upload = self.upload.value[0]
            return image_from_upload(upload), upload.get("name", "upload")
        if self.prompt.value.strip():
            return None, "prompt"
        s = self.settings()
        return demo_image(s["width"], s["height"]), "demo"

    def show_preview(self) -> None:
        """The conditioning image the next run will use, as a thumbnail."""
        try:
            image, name = self.source()
        except InputError as e:
            self.preview.value, self.preview_note.value = b"", _red(str(e))
            return
        if image is None:
            self.preview.value, self.preview_note.value = b"", "<small>the prompt</small>"
            return
        self.preview.value = thumbnail_png(image, THUMB_WIDTH)
        note = "built-in demo image" if name == "demo" else html.escape(name)
        self.preview_note.value = f"<small>{note}, {image.width}x{image.height}</small>"

    # running -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run `generate` in a background thread (the Generate button): the kernel stays free
        to answer Stop. `wait()` joins it."""
        if self.running:
            return
        self._stop.clear()
        self.button.disabled, self.stop_button.disabled = True, False
        self._thread = threading.Thread(target=self.generate, name="svlab-panel", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the run started by `start()` to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Ask the running generation to stop at its next progress event (the Stop button)."""
        if self.running:
            self._stop.set()
            self.stage.value = "stopping at the next step…"

    def generate(self):
        """Run one generation with the panel's state; returns the result, or None after an
        error or a stop (which the panel then shows)."""
        self.button.disabled, self.stop_button.disabled, self.result = True, False, None
        self.status.value, self.manifest.value, self.video.value = "", "", b""
        self.video.layout.display = "none"  # shown again with the next result
        self.progress.value, self.stage.value, self._event = 0, "starting", {}
        start = time.perf_counter()
        try:
            image, name = self.source()
            settings = self.settings()
            out = self.out_dir / output_name(name, settings)
            self.result = generate_video(
                image=image, prompt=self.prompt.value.strip() or None, config=self.profile.value,
                out=out, callback=self._on_event, **settings)
        except RunStopped:
            self._finish("stopped", f"stopped {self._where()}; nothing was written")
            return None
        except SvlabError as e:
            self._finish("failed", _red(f"error: {html.escape(str(e))}"))
            return None
        except Exception as e:  # a bug: say so in the panel, keep the traceback in the log
            log.exception("generation failed")
            self._finish("failed", _red(f"internal error ({html.escape(type(e).__name__)}: "
                                        f"{html.escape(str(e))}); see the log"))
            return None
        seconds = time.perf_counter() - start
        self.progress.value = self.progress.max
        self.video.value = Path(self.result.video_path).read_bytes()
        self.video.layout.display = None
        _pixelate(self.video, self.result.manifest["output"]["width"])
        self.manifest.value = manifest_table(self.result.manifest)
        self._add_to_history(self.result, seconds)
        self._finish(f"done in {seconds:.1f} s", result_summary(self.result))
        return self.result

    def _on_event(self, event: Mapping[str, Any]) -> None:
        self._event = dict(event)
        if self._stop.is_set():
            raise RunStopped(self._where())
        if "steps" in event:
            self.progress.max = max(1, int(event["steps"]))
            self.progress.value = int(event.get("step", 0))
        self.stage.value = html.escape(self._where(prefix=False))

    def _where(self, prefix: bool = True) -> str:
        """Where the run is (or was stopped): 'after denoising step 3 of 25, scene 1 of 2'."""
        e = self._event
        if not e:
            return "before the first step" if prefix else ""
        where = str(e.get("stage", ""))
        if "steps" in e:
            where += f" step {e.get('step', 0)} of {e['steps']}"
        if "scenes" in e:
            where += f", scene {e.get('scene')} of {e['scenes']}"
        return f"after {where}" if prefix else where

    def _finish(self, stage: str, status: str) -> None:
        self.stage.value, self.status.value = html.escape(stage), status
        self.button.disabled, self.stop_button.disabled = False, True

    # history and comparison ----------------------------------------------------------------

    def _reload_history(self) -> None:
        """The gallery as earlier panels on `out_dir` left it (a reopened notebook, a
        restarted kernel): their latest runs still on disk, found in the run index."""
        folder = self.out_dir.resolve()
        try:
            runs = [r for r in find()
                    if r.status == "done" and Path(r.video).parent.resolve() == folder]
        except SvlabError as e:  # a corrupt index: set aside, and said here
            self.status.value = _red(html.escape(str(e)))
            return
        for run in runs[-GALLERY_RUNS:]:
            try:
                manifest = json.loads(Path(run.manifest).read_text(encoding="utf-8"))
                frames, _ = read_video(run.video)
            except (OSError, ValueError, SvlabError) as e:
                log.warning("run %s not shown in the gallery: %s", run.video, e)
                continue
            seconds = sum((s or {}).get("seconds") or 0.0
                          for s in (manifest.get("stages") or {}).values())
            self._add_to_history(GenerationResult(frames=frames, video_path=Path(run.video),
                                                  manifest=manifest), seconds)

    def _add_to_history(self, result, seconds: float) -> None:
        import ipywidgets as w

        frames = result.frames
        run = PanelRun(name=Path(result.video_path).name, video_path=Path(result.video_path),
                       manifest=result.manifest, seconds=seconds,
                       thumbnail=thumbnail_png(frames[len(frames) // 2], THUMB_WIDTH))
        self.history.append(run)
        index = len(self.history) - 1
        box = w.Checkbox(description="compare", indent=False, value=False)
        box.observe(lambda change, i=index: self.choose(i, change["new"]), names="value")
        self._boxes.append(box)
        m = run.manifest
        caption = (f"<div style='font-size:small;line-height:1.3;overflow-wrap:anywhere'>"
                   f"<b>{index + 1}</b> · {html.escape(m['engine'])} · "
                   f"{m['output']['frames']}f {m['output']['width']}x{m['output']['height']}"
                   f" · {seconds:.1f} s<br>{html.escape(run.name)}</div>")
        card = w.VBox([w.Image(value=run.thumbnail, format="png"), w.HTML(caption), box],
                      layout=w.Layout(width=f"{THUMB_WIDTH + 60}px", margin="0 8px 8px 0"))
        self.gallery.children = (*self.gallery.children, card)

    def choose(self, index: int, chosen: bool = True) -> None:
        """Tick or untick run `index` for comparison; a third tick drops the oldest."""
        if chosen and index not in self._chosen:
            self._chosen.append(index)
            if len(self._chosen) > 2:
                self._boxes[self._chosen[0]].value = False  # calls choose(.., False)
        elif not chosen and index in self._chosen:
            self._chosen.remove(index)
        self._boxes[index].value = index in self._chosen
        self._show_comparison()

    def _show_comparison(self) -> None:
        import ipywidgets as w

        if len(self._chosen) != 2:
            self.compare.children = ()
            return
        runs = [self.history[i] for i in sorted(self._chosen)]
        columns = []
        for run in runs:
            video = w.Video(value=run.video_path.read_bytes(), format="mp4", autoplay=True,
                            loop=True, controls=True, layout=w.Layout(width=f"{VIDEO_WIDTH}px"))
            _pixelate(video, run.manifest["output"]["width"])
            columns.append(w.VBox([video, w.HTML(f"<small>{html.escape(run.name)}</small>")]))
        self.compare.children = (w.HTML("<b>Side by side</b>"), w.HBox(columns),
                                 w.HTML(differences_table(*(r.manifest for r in runs))))


def _pixelate(video, width: int) -> None:
    """Tiny clips are enlarged pixel for pixel (see STYLE), larger ones smoothly."""
    if width < TINY_FRAME:
        video.add_class("svlab-pixelated")
    else:
        video.remove_class("svlab-pixelated")


def _red(message: str) -> str:
    return f"<span style='color:#c00'>{message}</span>"
