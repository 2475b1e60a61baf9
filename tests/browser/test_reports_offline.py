"""The HTML reports, opened from disk in Chromium with the network switched off: the index
links every run, and each page shows its text, images and video at once, asks for nothing
outside itself, and its video plays."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab_driver import media_state

ROOT = Path(__file__).resolve().parents[2]
SVLAB = str(Path(sys.executable).with_name("svlab"))
FALLBACK = "01_generate--model=fallback,num_frames=3"


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """01_generate reported twice into one folder: at its defaults, and on the fallback
    engine with 3 frames (fast: no model to load)."""
    work = tmp_path_factory.mktemp("offline-reports")
    nb = str(ROOT / "notebooks" / "01_generate.ipynb")
    for extra in ([], ["-p", "model", "fallback", "-p", "num_frames", "3"]):
        proc = subprocess.run([SVLAB, "report", nb, "--out", "reports", *extra],
                              capture_output=True, text=True, timeout=600, cwd=work)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return work / "reports"


@pytest.fixture
def offline_page(browser):
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    yield page, requests
    context.close()


def test_index_lists_each_run_and_links_its_page(reports, offline_page, artifacts):
    page, requests = offline_page
    page.goto((reports / "index.html").as_uri())
    rows = page.locator("tr.ok")
    assert rows.count() == 2
    text = page.inner_text("table")
    assert FALLBACK in text and "num_frames = 3" in text and "(defaults)" in text
    page.screenshot(path=str(artifacts / "report-index.png"), full_page=True)
    page.locator("a", has_text=FALLBACK).click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/{FALLBACK}/01_generate.html")
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


@pytest.mark.parametrize("run", ["01_generate", FALLBACK])
def test_report_shows_everything_at_once_offline_and_its_video_plays(run, reports,
                                                                     offline_page, artifacts):
    page, requests = offline_page
    start = time.monotonic()
    page.goto((reports / run / "01_generate.html").as_uri(), wait_until="load")
    loaded = time.monotonic() - start
    assert loaded < 5, f"the page took {loaded:.1f} s to load offline"
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert page.evaluate("() => [...document.scripts].filter(s => s.src).length") == 0
    body = page.inner_text("body")
    assert "01 · Generate a video" in body
    assert ("engine fallback" if run == FALLBACK else "engine model") in body
    assert "Generation panel: interactive in JupyterLab" in body  # the panel, static
    assert "Error displaying widget" not in body and "Loading widget" not in body
    images = media_state(page, "img")
    assert len(images) == 2 and all(i["complete"] and i["width"] > 0 for i in images)
    page.wait_for_function("() => document.querySelector('video').readyState >= 2",
                           timeout=5000)
    (video,) = media_state(page, "video")
    assert video["error"] is None and video["duration"] > 0.4 and video["width"] == 64
    frames = json.loads((reports / run / "01_generate.json").read_text())["num_frames"]
    assert frames == (3 if run == FALLBACK else 8)
    assert "<code>num_frames</code>" in page.content()

    page.evaluate("""() => { const v = document.querySelector('video');
                             v.loop = false; v.currentTime = 0; return v.play(); }""")
    first = page.evaluate("() => document.querySelector('video').currentTime")
    page.wait_for_timeout(300)
    later = page.evaluate("() => document.querySelector('video').currentTime")
    assert later > first and later > 0.1, (first, later)
    page.screenshot(path=str(artifacts / f"report-{run}.png"), full_page=True)
