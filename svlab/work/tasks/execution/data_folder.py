"""The data folder of `svlab serve`: where tasks, uploads and results live, and how a result
is published in one step.

    DATA/tasks.db                  the task store (SQLite)
    DATA/uploads/<name>            images sent with a task (kept for a while, see prune_uploads)
    DATA/inputs/                   images and music a storyboard may name
    DATA/videos/<id>/<id>.mp4      a task's result folder: the video, its manifest <id>.json,
                                   captions <id>.vtt and <id>.srt
    DATA/videos/.<id>.<hex>.staging/   where a run writes, renamed to videos/<id>/ when done
    DATA/space-reserve             1 MiB kept free for the store: when the disk fills, it is
                                   deleted so that the end of a task can still be recorded

A result folder appears under its final name all at once (a rename), and only for a task
whose success is being recorded: a reader never sees a video without its manifest, and a
kill at any moment leaves either no result folder or a whole one. What a kill leaves behind
(staging folders, hidden `.part` uploads, result folders whose success was never recorded) is
removed at the next start by `clean_at_start`.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from svlab.core.files import atomic_output
from svlab.core.run_index import move
from svlab.work.tasks.execution.store import TaskStore, valid_task_id

log = logging.getLogger(__name__)

ORPHAN_UPLOAD_SECONDS = 3600.0  # an upload no task names is removed after this long
RESERVE_BYTES = 1 << 20
RESULT_SUFFIXES = (".mp4", ".json", ".vtt", ".srt")


@dataclass(frozen=True)
class DataFolder:
    """Paths in one data folder (`root` is absolute)."""

    root: Path

    @classmethod
    def create(cls, root: str | Path) -> "DataFolder":
        folder = cls(Path(root).resolve())
        for path in (folder.uploads, folder.inputs, folder.videos):
            path.mkdir(parents=True, exist_ok=True)
        return folder

    @property
    def database(self) -> Path:
        return self.root / "tasks.db"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def videos(self) -> Path:
        return self.root / "videos"

    def result(self, task_id: str) -> Path:
        """The published result folder of a task."""
        return self.videos / task_id

    def video(self, task_id: str) -> Path:
        return self.result(task_id) / f"{task_id}.mp4"

    def new_staging(self, task_id: str) -> Path:
        """A fresh hidden folder for one run of a task to write into."""
        path = self.videos / f".{task_id}.{secrets.token_hex(4)}.staging"
        path.mkdir()
        return path

    def publish(self, staging: Path, task_id: str) -> None:
        """Rename a finished run's folder into place (replacing a result of an earlier run
        whose success was never recorded), and point the run index at its final place."""
        final = self.result(task_id)
        if final.exists():
            shutil.rmtree(final)
        os.rename(staging, final)
        move(staging / f"{task_id}.mp4", self.video(task_id))

    def unpublish(self, task_id: str) -> None:
        shutil.rmtree(self.result(task_id), ignore_errors=True)

    @property
    def reserve(self) -> Path:
        return self.root / "space-reserve"

    def keep_reserve(self) -> None:
        """Make sure the space reserve exists (quietly not, while the disk is full)."""
        if self.reserve.is_file() and self.reserve.stat().st_size == RESERVE_BYTES:
            return
        try:
            with atomic_output(self.reserve) as tmp:
                tmp.write_bytes(bytes(RESERVE_BYTES))
        except OSError as e:
            log.debug("no space reserve: %s", e)

    def release_reserve(self) -> bool:
        """Delete the space reserve, so a store that is out of space can write again;
        False when there was none to release."""
        try:
            self.reserve.unlink()
        except FileNotFoundError:
            return False
        log.warning("the data folder's disk is full: released its space reserve")
        return True


def clean_at_start(folder: DataFolder, store: TaskStore) -> dict[str, int]:
    """Remove what a stopped or killed server left behind; returns how many of each.

    Hidden entries in videos/ and uploads/ are unfinished writes (staging folders, `.part`
    files); a result folder of a task not recorded as succeeded is a run killed between
    publishing and recording. Results of an older layout (flat videos/<id>.mp4 files) move
    into their result folder.
    """
    removed = {"partial": 0, "unrecorded": 0, "moved": 0}
    partial = [*folder.videos.glob(".*"), *folder.uploads.glob(".*"),
               *folder.root.glob(f".{folder.reserve.name}.*")]
    for path in partial:
        _remove(path)
        removed["partial"] += 1
    for path in folder.videos.iterdir():
        if path.is_file() and path.suffix in RESULT_SUFFIXES and valid_task_id(path.stem):
            folder.result(path.stem).mkdir(exist_ok=True)
            os.replace(path, folder.result(path.stem) / path.name)
            removed["moved"] += 1
    for path in folder.videos.iterdir():
        if path.is_dir() and valid_task_id(path.name):
            task = store.get(path.name)
            if task is None or task["status"] != "succeeded":
                _remove(path)
                removed["unrecorded"] += 1
    return removed


def prune_uploads(folder: DataFolder, store: TaskStore, keep_seconds: float) -> int:
    """Delete uploaded images no longer needed; returns how many.

    An upload is kept while its task is queued or running and for `keep_seconds` after it
    finished; an upload no task names (its request was refused after the write, or the
    server died in between) goes after ORPHAN_UPLOAD_SECONDS.
    """
    now = time.time()
    wanted = store.uploads_in_use(finished_after=now - keep_seconds)
    named = store.uploads_named()
    count = 0
    for path in folder.uploads.iterdir():
        relative = f"uploads/{path.name}"
        if path.name.startswith(".") or relative in wanted:
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if relative in named or age > ORPHAN_UPLOAD_SECONDS:
            _remove(path)
            count += 1
    return count


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
