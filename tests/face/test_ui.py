"""GenerationPanel driven headlessly, as ipywidgets tests its own widgets: set the upload's
state the way the front end sends it, press the buttons, read what the panel shows. The
run happens in the panel's background thread, so each press is followed by `wait()`.
The same panel driven in a real browser: tests/browser/."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from svlab.face.display import demo_image
from svlab.media import read_video
from svlab.face.ui import LABEL_WIDTH, SLIDERS, GenerationPanel, output_name


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


def press(button, panel) -> None:
    button.click()
    panel.wait(120)
    assert not panel.running


def test_upload_and_generate_shows_video_manifest_and_a_named_output(panel, tmp_path):
    panel.upload.set_state(upload_state("sunset at sea.png", png_bytes()))
    panel.model.value = "fallback"
    for key, value in {"frames": 5, "fps": 10, "seed": 7, "width": 80, "height": 48}.items():
        panel.sliders[key].value = value
    press(panel.button, panel)

    assert "color:#c00" not in panel.status.value, panel.status.value
    mp4 = bytes(panel.video.value)
    assert mp4[4:8] == b"ftyp"  # an MP4 file, whole
    (video,) = tmp_path.glob("*.mp4")
    assert video.name.startswith("sunset-at-sea_fallback_80x48_5f_")
    assert "_seed7_" in video.name and video.read_bytes() == mp4
    frames, fps = read_video(video)
    assert frames.shape == (5, 48, 80, 3) and fps == 10
    manifest = json.loads(video.with_suffix(".json").read_text())
    assert (manifest["num_frames"], manifest["seed"], manifest["engine"]) == (5, 7, "fallback")
    image = manifest["inputs"]["image"]  # the uploaded picture, by size, content and name
    assert image["source"] == "PIL image" and len(image["pixels_sha256"]) == 64
    assert image["name"] == "sunset at sea.png"
    assert "<code>num_frames</code></td><td style='text-align:left'>5</td>" in panel.manifest.value
    assert panel.stage.value.startswith("done in ") and not panel.button.disabled
    assert panel.stop_button.disabled
    assert video.name in panel.status.value


def test_tiny_model_run_drives_the_progress_bar_and_the_stage_label(panel):
    assert panel.model.value == "tiny"  # the cpu-tiny profile's model
    panel.sliders["frames"].value = 2
    panel.sliders["steps"].value = 2
    seen, stages = [], []
    panel.progress.observe(lambda change: seen.append(change["new"]), names="value")
    panel.stage.observe(lambda change: stages.append(change["new"]), names="value")
    press(panel.button, panel)

    assert "color:#c00" not in panel.status.value, panel.status.value
    assert panel.result.manifest["engine"] == "model"
    assert panel.result.manifest["num_inference_steps"] == 2
    assert (panel.progress.max, panel.progress.value) == (2, 2)
    assert seen[:2] == [1, 2]  # one update per denoising step, from the service's callback
    assert "denoising step 1 of 2" in stages and "denoising step 2 of 2" in stages
    assert bytes(panel.video.value)[4:8] == b"ftyp"
    assert "svlab-pixelated" in panel.video._dom_classes  # 64 pixels wide: nearest neighbour


def test_stop_ends_the_run_cleanly_with_nothing_written(panel, tmp_path):
    panel.sliders["frames"].value = 2
    panel.sliders["steps"].value = 100
    panel.button.click()
    assert panel.running and panel.button.disabled and not panel.stop_button.disabled
    deadline = time.monotonic() + 120
    while panel.progress.value < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    press(panel.stop_button, panel)

    assert panel.stage.value == "stopped"
    assert panel.status.value.startswith("stopped after denoising step ")
    assert panel.status.value.endswith(" of 100; nothing was written")
    assert panel.result is None and panel.history == []
    assert list(tmp_path.iterdir()) == []
    assert not panel.button.disabled and panel.stop_button.disabled
    panel.sliders["steps"].value = 1  # the panel is usable again
    press(panel.button, panel)
    assert panel.stage.value.startswith("done") and len(panel.history) == 1


def test_history_gallery_and_side_by_side_comparison(panel):
    panel.model.value = "fallback"
    panel.sliders["frames"].value = 3
    for seed in (1, 2, 3):
        panel.sliders["seed"].value = seed
        press(panel.button, panel)
    assert [run.manifest["seed"] for run in panel.history] == [1, 2, 3]
    assert len(panel.gallery.children) == 3
    thumb = Image.open(io.BytesIO(panel.history[0].thumbnail))
    assert thumb.width == 112

    panel.choose(0)
    assert panel.compare.children == ()  # one run ticked: nothing to compare yet
    panel.choose(2)
    title, videos, table = panel.compare.children
    assert [bytes(v.children[0].value) for v in videos.children] == [
        panel.history[i].video_path.read_bytes() for i in (0, 2)]
    assert "<td><code>seed</code></td><td>1</td><td>3</td>" in table.value
    panel.choose(1)  # a third tick drops the oldest
    assert panel._chosen == [2, 1] and not panel._boxes[0].value
    assert "<td>2</td><td>3</td>" in panel.compare.children[2].value


def test_a_new_panel_shows_its_folders_runs_again(panel, tmp_path):
    """A reopened notebook (a new kernel, a new panel): the gallery comes back from the run
    index, without the runs whose video was deleted or that were made elsewhere."""
    panel.model.value = "fallback"
    panel.sliders["frames"].value = 3
    for seed in (1, 2):
        panel.sliders["seed"].value = seed
        press(panel.button, panel)
    again = GenerationPanel(out_dir=tmp_path)
    assert [run.manifest["seed"] for run in again.history] == [1, 2]
    assert [run.video_path for run in again.history] == [r.video_path for r in panel.history]
    assert len(again.gallery.children) == 2
    panel.history[0].video_path.unlink()
    assert [run.manifest["seed"] for run in GenerationPanel(out_dir=tmp_path).history] == [2]
    assert GenerationPanel(out_dir=tmp_path / "elsewhere").history == []


def test_preview_shows_the_image_the_next_run_uses(panel):
    assert panel.preview_note.value == "<small>built-in demo image, 64x64</small>"
    assert Image.open(io.BytesIO(panel.preview.value)).width == 112
    panel.upload.set_state(upload_state("holiday.png", png_bytes(80, 48)))
    assert panel.preview_note.value == "<small>holiday.png, 80x48</small>"
    panel.upload.set_state(upload_state("notes.txt", b"not an image", "text/plain"))
    assert "is not an image" in panel.preview_note.value and panel.preview.value == b""


def test_without_an_upload_the_demo_image_is_used(panel, tmp_path):
    panel.model.value = "fallback"
    panel.sliders["frames"].value = 2
    press(panel.button, panel)
    assert panel.result.manifest["engine"] == "fallback"
    assert panel.result.video_path.name.startswith("demo_fallback_64x64_2f_")


def test_bad_upload_is_a_red_line_not_a_traceback(panel, tmp_path):
    panel.upload.set_state(upload_state("notes.txt", b"not an image", "text/plain"))
    panel.model.value = "fallback"
    press(panel.button, panel)
    assert panel.status.value.startswith("<span style='color:#c00'>error: uploaded file "
                                         "&#x27;notes.txt&#x27; is not an image")
    assert "Traceback" not in panel.status.value
    assert panel.result is None and bytes(panel.video.value) == b"" and not panel.manifest.value
    assert panel.stage.value == "failed" and not panel.button.disabled
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_setting_the_config_refuses_is_a_red_line(panel, tmp_path):
    panel.model.value = "fallback"
    panel.sliders["width"].value = 100  # the slider's step is 8; Python may set any value
    press(panel.button, panel)
    assert "error: width=100 cannot be taken by the model" in panel.status.value
    assert "(nearest: 96)" in panel.status.value
    assert panel.stage.value == "failed" and not list(tmp_path.iterdir())


def test_error_replaces_the_previous_result(panel):
    panel.model.value = "fallback"
    panel.sliders["frames"].value = 2
    press(panel.button, panel)
    assert bytes(panel.video.value)[4:8] == b"ftyp"
    panel.upload.set_state(upload_state("notes.txt", b"not an image", "text/plain"))
    press(panel.button, panel)
    assert "error:" in panel.status.value
    assert bytes(panel.video.value) == b"" and panel.manifest.value == ""
    assert panel.result is None and len(panel.history) == 1


def test_profile_choice_sets_model_and_sliders(panel):
    panel.profile.value = "low-vram"
    assert panel.model.value == "auto"
    values = {k: s.value for k, s in panel.sliders.items()}
    assert values == {"width": 512, "height": 512, "frames": 15, "steps": 15, "fps": 6,
                      "motion bucket": 127, "seed": 42, "decode chunk": 2}
    panel.sliders["decode chunk"].value = 0
    assert panel.settings()["decode_chunk_size"] is None  # 0 on the slider: decode all at once
    assert set(panel.model.options) >= {"auto", "tiny", "svd", "fallback"}


def test_labels_share_one_width(panel):
    # ipywidgets cuts a description at its description_width; tests/browser measures in
    # Chromium that LABEL_WIDTH holds every label.
    for control in (*panel.sliders.values(), panel.profile, panel.model):
        assert control.style.description_width == LABEL_WIDTH
    assert set(SLIDERS) >= {"width", "height", "motion bucket", "decode chunk"}


def test_panel_displays_as_a_widget_with_a_static_fallback(panel):
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id
    assert "Generation panel" in bundle["text/html"] and "64x64" in bundle["text/html"]


def test_output_name_says_what_was_made():
    settings = {"model": "svd-xt", "width": 1024, "height": 576, "num_frames": 25,
                "num_inference_steps": 30, "seed": 9}
    name = output_name("My photo (1).JPG", settings, clock=0)
    assert name.startswith("My-photo-1_svd-xt_1024x576_25f_30steps_seed9_")
    assert name.endswith(".mp4") and "/" not in name
