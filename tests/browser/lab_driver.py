"""Driving a JupyterLab notebook the way a person does (menus, buttons, the file chooser),
reading its state through the app object JupyterLab exposes for testing."""

from __future__ import annotations

import json
import time
from pathlib import Path

NOTEBOOK_READY = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session
            && w.sessionContext.session.kernel;
  return !!(k && k.status === 'idle' && w.content && w.content.widgets.length);
}"""

ALL_RAN = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!kernel) return false;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return kernel.status === 'idle' && cells.every(
    c => c.model.executionCount !== null && !c.promptNode.textContent.includes('*'));
}"""


class NotebookPage:
    """One notebook open in JupyterLab in its own browser page."""

    def __init__(self, browser, lab, path: str):
        self.lab, self.path = lab, path
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and
                     self.console_errors.append(m.text))

    def open(self, timeout: float = 120) -> "NotebookPage":
        self.page.goto(self.lab.url(self.path))
        self.page.wait_for_function(NOTEBOOK_READY, timeout=timeout * 1000)
        return self

    def menu(self, top: str, item: str) -> None:
        """Click a main-menu entry, e.g. menu("Run", "Run All Cells")."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text=item).first.click()

    def run_all(self, timeout: float = 600) -> float:
        """Run → Run All Cells, and wait until every cell ran; returns the seconds it took."""
        start = time.monotonic()
        self.menu("Run", "Run All Cells")
        self.page.wait_for_timeout(500)
        self.page.wait_for_function(ALL_RAN, timeout=timeout * 1000, polling=500)
        return time.monotonic() - start

    def save(self) -> dict:
        """File → Save Notebook; returns the notebook as saved on disk."""
        target = Path(self.lab.root) / self.path
        before = target.stat().st_mtime_ns
        self.menu("File", "Save Notebook")
        deadline = time.monotonic() + 30
        while target.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        return json.loads(target.read_text(encoding="utf-8"))

    def shut_down_and_close(self) -> None:
        """Kernel → Shut Down Kernel, then close the page: nothing of the session is left."""
        self.menu("Kernel", "Shut Down Kernel")
        self.page.wait_for_timeout(1000)
        self.page.close()

    def widget_errors(self) -> list[str]:
        """Texts of outputs that could not show their widget."""
        return self.page.locator(".jp-OutputArea-output", has_text="Error displaying widget") \
            .all_inner_texts()

    def screenshot(self, path: Path, locator=None) -> None:
        """A screenshot of `locator`, or of the whole notebook. The page is first made tall
        enough (at most 8000 pixels) that nothing is scrolled away inside the notebook; the
        cells' heights are measured again after each resize, as JupyterLab lays out only
        what is in view."""
        size = self.page.viewport_size
        for _ in range(3):
            if locator is None:
                height = self.page.evaluate("""() => [...document.querySelectorAll(
                  '.jp-NotebookPanel-notebook .jp-Cell')].reduce(
                  (sum, c) => sum + c.getBoundingClientRect().height, 0) + 200""")
            else:
                height = locator.bounding_box()["height"] + 200
            height = int(min(8000, max(size["height"], height)))
            if height == self.page.viewport_size["height"]:
                break
            self.page.set_viewport_size({"width": size["width"], "height": height})
            self.page.wait_for_timeout(700)
        if locator is None:
            self.page.evaluate("""() => {
              const nb = document.querySelector('.jp-NotebookPanel-notebook');
              for (const el of [nb, nb.querySelector('.jp-WindowedPanel-outer')])
                if (el) el.scrollTop = 0; }""")
            self.page.wait_for_timeout(300)
            self.page.screenshot(path=str(path))
        else:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(path))
        self.page.set_viewport_size(size)

    def scroll_notebook_to_end(self) -> None:
        self.page.evaluate("""() => {
          const nb = window.jupyterapp.shell.currentWidget.content;
          nb.activeCellIndex = nb.widgets.length - 1;
          nb.scrollToItem(nb.widgets.length - 1);
        }""")
        self.page.wait_for_timeout(500)


def sharpness(png: bytes) -> float:
    """The share of horizontally neighbouring pixels that are identical: a tiny clip enlarged
    with nearest neighbour scores high (blocks), a smoothly scaled one low."""
    import io

    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return float((np.abs(np.diff(a, axis=1)).sum(axis=2) == 0).mean())


def media_state(page, selector: str) -> list[dict]:
    """For each <video> or <img> matching `selector`: whether it loaded and how large."""
    return page.eval_on_selector_all(selector, """els => els.map(e => e.tagName === 'VIDEO'
      ? {tag: 'video', ready: e.readyState, duration: e.duration, width: e.videoWidth,
         error: e.error && e.error.message}
      : {tag: 'img', complete: e.complete, width: e.naturalWidth})""")
