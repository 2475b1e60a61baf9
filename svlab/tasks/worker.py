"""The worker: one thread that takes queued tasks from the store and runs them, one at a time.

One at a time because one model occupies the accelerator (or the CPU) at once; the model is
loaded once and kept by the service between tasks. Progress and cancellation ride on the
service's callback: each event is written to the store, and the callback raises `Cancelled`
(DELETE) or `Interrupted` (server stopping) to end a run early. Outputs are written atomically
by the service, so an ended run leaves no partial file; an interrupted task goes back to the
queue and runs again.

Data folder layout: tasks.db, videos/<id>.mp4 (+ .json manifest, .vtt/.srt captions),
uploads/ (images sent with a task), inputs/ (images a storyboard may name).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..config import VideoConfig
from ..errors import InputError, SvlabError
from ..run.settings import resolve_config
from ..service import generate
from ..storyboards import render_storyboard, storyboard_from_dict
from .store import TaskStore

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.2  # seconds between progress writes within one stage


class Cancelled(Exception):
    """Raised inside a run when its task was cancelled."""


class Interrupted(Exception):
    """Raised inside a run when the server is stopping; the task is queued again."""


def videos_dir(data: Path) -> Path:
    return data / "videos"


def uploads_dir(data: Path) -> Path:
    return data / "uploads"


def inputs_dir(data: Path) -> Path:
    return data / "inputs"


def video_path(data: Path, task_id: str) -> Path:
    return videos_dir(data) / f"{task_id}.mp4"


def task_config(request: dict[str, Any], base: VideoConfig) -> VideoConfig:
    """The settings a task runs with: the server's config (or the named profile), then the
    storyboard's own settings, then the request's settings. Raises ConfigError."""
    settings = dict((request.get("storyboard") or {}).get("settings") or {})
    settings.update(request.get("settings") or {})
    profile = settings.pop("profile", None) or request.get("profile")
    return resolve_config(profile if profile is not None else base, settings)


def run_task(request: dict[str, Any], data: Path, out: Path, base: VideoConfig,
             callback) -> dict[str, Any]:
    """Run one task's request; returns the manifest of the written video. Every request
    gets a video: a model that cannot run is answered by the fallback engine."""
    config = task_config(request, base)
    if request.get("storyboard") is not None:
        board = storyboard_from_dict(request["storyboard"], base_dir=inputs_dir(data),
                                     root=inputs_dir(data))
        return render_storyboard(board, config, out, callback=callback,
                                 allow_fallback=True).manifest
    image = data / request["image"] if request.get("image") else None
    if image is not None and not image.is_file():
        raise InputError(f"the uploaded image {request['image']} is gone from the data folder")
    return generate(image=image, prompt=request.get("prompt"), config=config, out=out,
                    callback=callback, allow_fallback=True).manifest


class Worker:
    """Runs queued tasks in a background thread until `stop()`."""

    def __init__(self, store: TaskStore, data: str | Path, base_config: VideoConfig, *,
                 poll_seconds: float = 1.0):
        self.store = store
        self.data = Path(data)
        self.base_config = base_config
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._current: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        videos_dir(self.data).mkdir(parents=True, exist_ok=True)

    # -- control, from other threads ----------------------------------------------------

    def start(self) -> None:
        """Recover what a previous server left behind, then start the thread."""
        remove_partial_files(videos_dir(self.data))
        recovered = self.store.recover_interrupted()
        if any(recovered.values()):
            log.warning("interrupted tasks from the last run: %s", recovered)
        self._thread = threading.Thread(target=self._loop, name="svlab-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A task was queued: look at the queue now instead of at the next poll."""
        self._wake.set()

    def cancel(self, task_id: str) -> None:
        """Stop the run of `task_id` at its next progress event, if it is the one running."""
        with self._lock:
            if self._current == task_id:
                self._cancel.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current run's next progress event (that task is queued again)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def busy(self) -> bool:
        return self._current is not None

    # -- the thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the store itself failed: log, wait, try again
                log.exception("worker loop error")
                ran = False
            if not ran:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        self.store.close()

    def run_once(self) -> bool:
        """Run the oldest queued task to its end; False when there was none."""
        task = self.store.claim_next()
        if task is None:
            return False
        task_id = task["id"]
        with self._lock:
            self._current = task_id
            self._cancel.clear()
        out = video_path(self.data, task_id)
        started = time.perf_counter()
        try:
            if task["cancel_requested"]:
                raise Cancelled()
            manifest = run_task(task["request"], self.data, out, self.base_config,
                                self._callback(task_id))
        except Cancelled:
            self.store.finish(task_id, "cancelled", error="cancelled by a DELETE request")
        except Interrupted:
            self.store.requeue(task_id)
        except SvlabError as e:
            self.store.finish(task_id, "failed", error=str(e))
        except Exception as e:
            log.exception("task %s failed", task_id)
            self.store.finish(task_id, "failed", error=f"internal error: "
                              f"{type(e).__name__}: {e}")
        else:
            self.store.set_progress(task_id, {"stage": "done", "fraction": 1.0})
            self.store.finish(task_id, "succeeded", manifest=manifest)
            log.info("task %s done in %.1f s", task_id, time.perf_counter() - started)
        finally:
            with self._lock:
                self._current = None
        return True

    def _callback(self, task_id: str):
        last = {"time": 0.0, "key": None}

        def callback(event: dict[str, Any]) -> None:
            if self._cancel.is_set():
                raise Cancelled()
            if self._stop.is_set():
                raise Interrupted()
            key = (event.get("scene"), event.get("stage"))
            now = time.monotonic()
            if key == last["key"] and now - last["time"] < PROGRESS_INTERVAL:
                return
            last.update(time=now, key=key)
            self.store.set_progress(task_id, {**_plain(event), "fraction": _fraction(event)})

        return callback


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if isinstance(v, (str, int, float, bool, type(None)))}


def _fraction(event: dict[str, Any]) -> float | None:
    """Share of the run done: scenes finished plus the share of the current scene's steps.
    Keyframes (made for all scenes first, quick next to the clips) count as none."""
    if event.get("stage") == "keyframe":
        return 0.0
    steps, step = event.get("steps"), event.get("step")
    inner = step / steps if steps and step is not None else 0.0
    scenes, scene = event.get("scenes"), event.get("scene")
    if scenes and scene:
        return round(min(1.0, ((scene - 1) + inner) / scenes), 4)
    return round(min(1.0, inner), 4) if steps else None


def remove_partial_files(folder: Path) -> None:
    """Delete the hidden temporary files and folders of runs that were killed mid-write."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith("."):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
