"""Every notebook in JupyterLab, in headless Chromium, as a researcher meets it: open it, run
all cells, see that nothing errored and that plots and the video render; use the generation
panel (upload, Generate, Stop, compare two runs); save, shut down, reopen: no broken widget.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab_driver import NotebookPage, media_state, sharpness

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
# What each notebook draws (at least): figures, and videos.
EXPECTED_MEDIA = {"01_generate.ipynb": (2, 1), "02_vram_profile.ipynb": (2, 0),
                  "03_interpolation.ipynb": (3, 0), "04_sweep.ipynb": (2, 1)}


def errors_in(saved: dict) -> list[str]:
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in saved["cells"]
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


@pytest.fixture(scope="module")
def generate_page(browser, lab, artifacts):
    """01_generate, run once, its page kept open for the panel tests."""
    page = NotebookPage(browser, lab, "notebooks/01_generate.ipynb").open()
    page.run_all()
    yield page
    page.page.close()


@pytest.mark.parametrize("name", [  # 01 in every run; the others in `make test-all`
    name if name == "01_generate.ipynb" else pytest.param(name, marks=pytest.mark.slow)
    for name in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(name, browser, lab, artifacts, generate_page):
    if name == "01_generate.ipynb":
        page = generate_page  # run once, shared with the panel tests
    else:
        page = NotebookPage(browser, lab, f"notebooks/{name}").open()
        page.run_all()
    saved = page.save()
    assert errors_in(saved) == []
    assert page.widget_errors() == []
    figures, videos = EXPECTED_MEDIA.get(name, (1, 0))
    images = media_state(page.page, ".jp-OutputArea-output img")
    assert len(images) >= figures and all(i["complete"] and i["width"] > 0 for i in images)
    clips = media_state(page.page, ".jp-OutputArea-output > video")
    assert len(clips) >= videos
    for clip in clips:
        assert clip["error"] is None and clip["ready"] >= 1 and clip["duration"] > 0, clip
    if name == "01_generate.ipynb":
        video = page.page.locator(".jp-OutputArea-output > video").first
        video.scroll_into_view_if_needed()
        assert sharpness(video.screenshot()) > 0.5  # a 64x64 clip enlarged in blocks
    page.screenshot(artifacts / f"{Path(name).stem}.png")
    if page is not generate_page:
        page.page.close()


def panel_of(page):
    return page.page.locator(".svlab-panel")


def set_slider(panel, label: str, value: int) -> None:
    """Type a value into a slider's readout, as a person does."""
    readout = panel.locator(".widget-slider", has=panel.page.locator(
        f".widget-label:text-is('{label}')")).locator(".widget-readout")
    readout.click()
    readout.press("Control+a")
    readout.type(str(value))
    readout.press("Enter")
    panel.page.wait_for_timeout(300)


def test_panel_labels_are_not_cut_off(generate_page, artifacts):
    panel = panel_of(generate_page)
    panel.scroll_into_view_if_needed()
    labels = panel.locator(".widget-label").evaluate_all(
        "els => els.filter(e => e.offsetParent).map(e => [e.textContent, e.scrollWidth, "
        "e.clientWidth])")
    assert {"width", "height", "motion bucket", "decode chunk", "profile"} <= \
        {text for text, _, _ in labels}
    cut = [text for text, scroll, client in labels if scroll > client]
    assert cut == []


def test_panel_generates_from_an_upload_and_shows_the_result(generate_page, tmp_path,
                                                            artifacts):
    from PIL import Image

    from svlab.face.display import demo_image

    demo_image(160, 96).save(tmp_path / "sunset.png")
    panel = panel_of(generate_page)
    panel.scroll_into_view_if_needed()
    with generate_page.page.expect_file_chooser() as chooser:
        panel.locator("button.widget-upload").click()
    chooser.value.set_files(str(tmp_path / "sunset.png"))
    generate_page.page.wait_for_function(
        "() => document.querySelector('.svlab-panel').textContent.includes('sunset.png, 160x96')")
    assert panel.locator(".svlab-preview").evaluate("e => e.naturalWidth") > 0
    set_slider(panel, "frames", 3)
    set_slider(panel, "steps", 2)
    shown = panel.locator(".svlab-gallery img").count()  # the notebook's own runs, from the index
    panel.locator("button", has_text="Generate").click()
    panel.locator(".svlab-stage", has_text="done in").wait_for(timeout=180_000)
    status = panel.locator(".svlab-status").inner_text()
    assert re.search(r"sunset_mini_64x64_3f_2steps_seed42_\d{6}\.mp4: 3 frames", status), status
    video = panel.locator("video.svlab-video")
    generate_page.page.wait_for_function(
        "() => document.querySelector('.svlab-panel video.svlab-video').readyState >= 2")
    assert media_state(generate_page.page, ".svlab-panel video.svlab-video")[0]["duration"] > 0
    assert sharpness(video.screenshot()) > 0.5
    assert panel.locator(".svlab-gallery img").count() == shown + 1
    made = list((Path(generate_page.lab.root) / "notebooks" / "outputs").glob("sunset_*.mp4"))
    assert len(made) == 1
    Image.open(tmp_path / "sunset.png")  # the upload itself is untouched


def test_panel_stop_interrupts_the_run_cleanly(generate_page, artifacts):
    panel = panel_of(generate_page)
    outputs = Path(generate_page.lab.root) / "notebooks" / "outputs"
    before = sorted(outputs.iterdir())
    set_slider(panel, "steps", 100)
    panel.locator("button", has_text="Generate").click()
    panel.locator(".svlab-stage", has_text="denoising step").wait_for(timeout=120_000)
    assert panel.locator("button", has_text="Generate").is_disabled()
    panel.locator("button", has_text="Stop").click()
    panel.locator(".svlab-stage", has_text="stopped").wait_for(timeout=60_000)
    status = panel.locator(".svlab-status").inner_text()
    assert re.fullmatch(r"stopped after denoising step \d+ of 100; nothing was written",
                        status.strip()), status
    assert sorted(outputs.iterdir()) == before
    assert panel.locator("button", has_text="Generate").is_enabled()
    assert panel.locator("button", has_text="Stop").is_disabled()


def test_panel_compares_two_runs_side_by_side(generate_page, artifacts):
    panel = panel_of(generate_page)
    set_slider(panel, "steps", 1)
    set_slider(panel, "seed", 7)
    panel.locator("button", has_text="Generate").click()
    panel.locator(".svlab-stage", has_text="done in").wait_for(timeout=180_000)
    cards = panel.locator(".svlab-gallery > .widget-vbox")
    last = cards.count()
    assert last >= 2
    for i in (last - 2, last - 1):  # the upload's run (seed 42), then this one (seed 7)
        cards.nth(i).locator("input[type=checkbox]").check()
    compare = panel.locator(".svlab-compare")
    compare.locator("video").nth(1).wait_for()
    assert compare.locator("video").count() == 2
    boxes = [compare.locator("video").nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] > boxes[0]["x"]  # side by side
    differs = compare.locator("table").inner_text()
    assert "seed" in differs and "42" in differs and "7" in differs
    generate_page.screenshot(artifacts / "panel.png", panel)


@pytest.fixture(scope="module")
def reopened(generate_page, browser, lab, artifacts):
    """01_generate saved after the panel was used, its kernel shut down, opened again."""
    shown = panel_of(generate_page).locator(".svlab-gallery img").count()
    saved = generate_page.save()
    generate_page.shut_down_and_close()
    page = NotebookPage(browser, lab, "notebooks/01_generate.ipynb")
    page.page.goto(lab.url("notebooks/01_generate.ipynb"))
    page.page.locator(".svlab-panel, .jp-OutputArea-output:has-text('Error displaying')") \
        .first.wait_for(timeout=60_000)
    page.page.wait_for_timeout(2000)
    page.screenshot(artifacts / "01_generate-reopened.png")
    yield saved, page, shown
    page.page.close()


def test_reopened_notebook_draws_the_panel_from_its_saved_state(reopened):
    saved, page, shown = reopened
    assert shown >= 2  # the notebook's runs and the panel's two
    assert "widgets" in saved["metadata"]  # `make install` turns on saving widget state
    panel_cell = page.page.locator(".jp-CodeCell").last
    assert panel_cell.locator(".svlab-panel").count() == 1
    assert "Error displaying widget" not in panel_cell.inner_text()
    assert panel_cell.locator(".svlab-gallery img").count() == shown


def test_reopened_notebook_shows_no_widget_errors(reopened):
    saved, page, _ = reopened
    assert page.widget_errors() == []
