"""The browser suite: JupyterLab on loopback, driven by headless Chromium through Playwright
for Python, and the HTML reports opened offline in the same browser.

Chromium is the system's (Debian's `chromium` package; `make test` installs it as root, or
set SVLAB_CHROMIUM to another binary): nothing is downloaded at test time. Where neither
Chromium nor Playwright is present, the whole suite is skipped with one message saying so.
Screenshots land in build/browser/ (git-ignored), one per notebook, panel and report.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    found = os.environ.get("SVLAB_CHROMIUM") or shutil.which("chromium") \
        or shutil.which("chromium-browser")
    return found if found and os.access(found, os.X_OK) else None


def pytest_collection_modifyitems(config, items):
    """One reason for skipping the suite, said once per test, where it cannot run here."""
    here = [item for item in items if Path(str(item.fspath)).parent == Path(__file__).parent]
    if not here:
        return
    reason = None
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "browser tests skipped: Playwright for Python is not installed (`make test`"\
                 " installs it with the dev extra)"
    if reason is None and chromium_path() is None:
        reason = ("browser tests skipped: no Chromium (install Debian's `chromium` package, "
                  "as `make test` does when run as root, or set SVLAB_CHROMIUM)")
    for item in here:
        item.add_marker(pytest.mark.browser)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Playwright gives each launch a new, empty profile (user data dir).
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on loopback serving a copy of notebooks/ (saving there changes
    nothing in the repository)."""

    def __init__(self, root: Path, port: int, token: str, process: subprocess.Popen):
        self.root, self.port, self.token, self.process = root, port, token, process
        self.base = f"http://127.0.0.1:{port}"
        self.pages = 0

    def url(self, path: str) -> str:
        """A fresh workspace for each page: JupyterLab restores a workspace's open documents
        (another page's notebook, its widgets included) and moves a second page opened on
        the same workspace to a new one, reloading it."""
        self.pages += 1
        return (f"{self.base}/lab/workspaces/page{self.pages}/tree/{path}"
                f"?reset&token={self.token}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory, artifacts):
    """JupyterLab as `make lab` starts it (kernels over IPC), with the app exposed to the
    page (JupyterLab's own test tool, Galata, does the same) so that tests can see when the
    kernel is idle. Its log is kept in build/browser/jupyterlab.log."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    port, token = free_port(), os.urandom(16).hex()
    home = Path(tempfile.mkdtemp(prefix="svlab-lab-home-"))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    env.pop("TQDM_DISABLE", None)  # the kernels show progress bars, as a researcher's do
    log = open(artifacts / "jupyterlab.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--allow-root", "--KernelManager.transport=ipc",
         "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    server = Lab(root, port, token, process)
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{server.base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"JupyterLab did not start; see {artifacts / 'jupyterlab.log'}")
            time.sleep(0.5)
    yield server
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(home, ignore_errors=True)
