"""GenerationPanel driven headlessly, as ipywidgets tests its own widgets: set the upload's
state the way the front end sends it, press the button, read what the panel shows. Plus the
display helpers the notebooks use."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from svlab.errors import InputError
from svlab.processor import read_video
from svlab.ui import (
    GenerationPanel, demo_image, flatten, frame_strip, image_from_upload, manifest_table,
    stage_chart,
)


def upload_state(name: str, content: bytes, type_: str = "image/png") -> dict:
    """A FileUpload `value` message as the ipywidgets 8 front end sends it."""
    return {"value": [{"name": name, "type": type_, "size": len(content),
                       "last_modified": 1_700_000_000_000, "content": memoryview(content)}]}


def png_bytes(width: int = 80, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    demo_image(width, height).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def panel(tmp_path):
    return GenerationPanel(out_dir=tmp_path)


def test_upload_and_generate_shows_video_and_manifest(panel, tmp_path):
    panel.upload.set_state(upload_state("sunset.png", png_bytes()))
    panel.model.value = "fallback"
    panel.sliders["frames"].value = 5
    panel.sliders["fps"].value = 10
    panel.sliders["seed"].value = 7
    panel.button.click()

    assert "color:#c00" not in panel.status.value, panel.status.value
    mp4 = bytes(panel.video.value)
    assert mp4[4:8] == b"ftyp"  # an MP4 file, whole
    (video,) = tmp_path.glob("panel-*.mp4")
    assert video.read_bytes() == mp4
    frames, fps = read_video(video)
    assert frames.shape == (5, 64, 64, 3) and fps == 10
    manifest = json.loads(video.with_suffix(".json").read_text())
    assert (manifest["num_frames"], manifest["seed"], manifest["engine"]) == (5, 7, "fallback")
    image = manifest["inputs"]["image"]  # the uploaded picture, by size and content
    assert image["source"] == "PIL image" and len(image["pixels_sha256"]) == 64
    table = panel.manifest.value
    assert "<code>num_frames</code></td><td style='text-align:left'>5</td>" in table
    assert "<code>output.fps</code></td><td style='text-align:left'>10</td>" in table
    assert "<code>engine</code></td><td style='text-align:left'>fallback</td>" in table
    assert panel.progress.description == "done" and not panel.button.disabled


def test_tiny_model_run_drives_the_progress_bar(panel):
    panel.upload.set_state(upload_state("sunset.png", png_bytes(64, 64)))
    assert panel.model.value == "tiny"  # the cpu-tiny profile's model
    panel.sliders["frames"].value = 2
    panel.sliders["steps"].value = 2
    seen = []
    panel.progress.observe(lambda change: seen.append(change["new"]), names="value")
    panel.button.click()

    assert "color:#c00" not in panel.status.value, panel.status.value
    assert panel.result.manifest["engine"] == "model"
    assert panel.result.manifest["num_inference_steps"] == 2
    assert (panel.progress.max, panel.progress.value) == (2, 2)
    assert seen[:2] == [1, 2]  # one update per denoising step, from the service's callback
    assert bytes(panel.video.value)[4:8] == b"ftyp"
    assert "<code>stages.denoising.seconds</code>" in panel.manifest.value


def test_bad_upload_is_a_red_line_not_a_traceback(panel, tmp_path):
    panel.upload.set_state(upload_state("notes.txt", b"not an image", "text/plain"))
    panel.model.value = "fallback"
    panel.button.click()
    assert panel.status.value.startswith("<span style='color:#c00'>error: uploaded file "
                                         "&#x27;notes.txt&#x27; is not an image")
    assert "Traceback" not in panel.status.value
    assert panel.result is None and bytes(panel.video.value) == b"" and not panel.manifest.value
    assert panel.progress.description == "failed" and not panel.button.disabled
    assert not list(tmp_path.iterdir())  # nothing written


def test_nothing_to_generate_from_is_shown_in_the_panel(panel):
    panel.model.value = "fallback"
    panel.button.click()
    assert "error: nothing to generate from" in panel.status.value


def test_error_replaces_the_previous_result(panel):
    panel.model.value = "fallback"
    panel.prompt.value = "A lighthouse at dusk."
    panel.button.click()
    assert bytes(panel.video.value)[4:8] == b"ftyp"
    panel.prompt.value = ""
    panel.button.click()
    assert "error:" in panel.status.value
    assert bytes(panel.video.value) == b"" and panel.manifest.value == ""
    assert panel.result is None


def test_profile_choice_sets_model_and_sliders(panel):
    panel.profile.value = "low-vram"
    assert panel.model.value == "auto"
    values = {k: s.value for k, s in panel.sliders.items()}
    assert values == {"frames": 15, "steps": 15, "fps": 6, "motion_bucket": 127, "seed": 42,
                      "decode_chunk": 2}
    panel.sliders["decode_chunk"].value = 0
    assert panel.settings()["decode_chunk_size"] is None  # 0 on the slider: decode all at once
    assert set(panel.model.options) >= {"auto", "tiny", "svd", "fallback"}


def test_panel_displays_as_a_widget(panel):
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id


def test_image_from_upload_reads_any_pillow_format():
    buffer = io.BytesIO()
    Image.new("L", (10, 6), 128).save(buffer, format="JPEG")
    image = image_from_upload({"name": "grey.jpg", "content": memoryview(buffer.getvalue())})
    assert image.mode == "RGB" and image.size == (10, 6)
    with pytest.raises(InputError, match="'x.bin' is not an image"):
        image_from_upload({"name": "x.bin", "content": memoryview(b"\x00\x01")})


def test_manifest_table_flattens_and_escapes():
    manifest = {"model": "<tiny>", "stages": {"load": {"seconds": 0.123456, "peak_bytes": 10}},
                "recovery": [], "fallback_reason": None}
    assert flatten(manifest) == [("model", "<tiny>"), ("stages.load.seconds", 0.123456),
                                 ("stages.load.peak_bytes", 10), ("recovery", []),
                                 ("fallback_reason", None)]
    table = manifest_table(manifest)
    assert "&lt;tiny&gt;" in table and "<tiny>" not in table
    assert "<td style='text-align:left'>0.1235</td>" in table
    assert table.count("<tr>") == 6


def test_figures():
    frames = np.zeros((14, 32, 48, 3), np.uint8)
    strip = frame_strip(frames, count=5)
    assert [ax.get_title() for ax in strip.axes] == [f"frame {i}" for i in (0, 3, 6, 10, 13)]
    chart = stage_chart({"stages": {"load": {"seconds": 1.0, "peak_bytes": 2**20},
                                    "denoising": {"seconds": 3.0, "peak_bytes": 2**21}}})
    time_ax, mem_ax = chart.axes
    assert [p.get_width() for p in time_ax.patches] == [1.0, 3.0]
    assert [p.get_width() for p in mem_ax.patches] == [1.0, 2.0]


def test_demo_image():
    image = demo_image(96, 64)
    assert image.size == (96, 64) and image.mode == "RGB"
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 50  # not a flat card
