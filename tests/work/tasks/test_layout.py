"""The data folder: a result appears as one folder, and what a kill leaves behind (staging
folders, hidden upload parts, results whose success was never recorded) goes at start."""

from __future__ import annotations

import os
import sqlite3
import time

from svlab.work.tasks.execution.data_folder import ORPHAN_UPLOAD_SECONDS, DataFolder, clean_at_start, prune_uploads
from svlab.work.tasks.execution.store import TaskStore


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_publish_is_one_rename(tmp_path):
    data = DataFolder.create(tmp_path / "data")
    task_id = "a" * 32
    staging = data.new_staging(task_id)
    assert staging.name.startswith(".") and staging.parent == data.videos
    for suffix in (".mp4", ".json", ".vtt"):
        (staging / f"{task_id}{suffix}").write_text(suffix)
    data.publish(staging, task_id)
    assert _names(data.videos) == [task_id]
    assert data.video(task_id).read_text() == ".mp4"
    # A second run of the same task (its first success never recorded) replaces it whole.
    again = data.new_staging(task_id)
    (again / f"{task_id}.mp4").write_text("second")
    data.publish(again, task_id)
    assert _names(data.result(task_id)) == [f"{task_id}.mp4"]


def test_publish_points_the_run_index_at_the_result(tmp_path, monkeypatch):
    from svlab.core.manifest import write_manifest
    from svlab.core.run_index import find, record

    monkeypatch.setenv("SVLAB_RUNS_INDEX", str(tmp_path / "runs.sqlite"))
    data = DataFolder.create(tmp_path / "data")
    task_id = "b" * 32
    staging = data.new_staging(task_id)
    manifest = {"model": "tiny", "seed": 7, "output": {"video": f"{task_id}.mp4"}}
    (staging / f"{task_id}.mp4").write_bytes(b"x")
    write_manifest(staging / f"{task_id}.mp4", manifest)
    record(staging / f"{task_id}.mp4", manifest)  # as the service's Publication does
    data.publish(staging, task_id)
    assert [(r.video, r.status, r.settings["seed"]) for r in find()] == \
        [(str(data.video(task_id)), "done", 7)]


def test_clean_at_start(tmp_path):
    data = DataFolder.create(tmp_path / "data")
    store = TaskStore(data.database)
    done, running = store.create({})["id"], store.create({})["id"]
    store.claim_next()
    store.finish(done, "succeeded", manifest={"x": 1})
    store.claim_next()
    # What kills leave: a staging folder, a render's work folder, upload parts ...
    (data.new_staging(running) / f"{running}.mp4").write_bytes(b"half")
    (data.videos / f".{running}.parts").mkdir()
    (data.uploads / ".0123.part.png").write_bytes(b"half an upload")
    (data.root / ".space-reserve.0123.part").write_bytes(b"half a reserve")
    # ... a result renamed into place whose success was never recorded ...
    data.result(running).mkdir()
    (data.result(running) / f"{running}.mp4").write_bytes(b"unrecorded")
    # ... and, from an older version, a flat result of a succeeded task.
    for suffix in (".mp4", ".json"):
        (data.videos / f"{done}{suffix}").write_text(suffix)
    (data.uploads / "kept.png").write_bytes(b"png")
    removed = clean_at_start(data, store)
    assert removed == {"partial": 4, "unrecorded": 1, "moved": 2}
    assert _names(data.videos) == [done]
    assert _names(data.result(done)) == [f"{done}.json", f"{done}.mp4"]
    assert _names(data.uploads) == ["kept.png"]
    assert not list(data.root.glob(".*"))


def test_prune_uploads(tmp_path):
    data = DataFolder.create(tmp_path / "data")
    store = TaskStore(data.database)
    files = {}
    for name in ("finished-long-ago", "finished-now", "queued", "orphan-old", "orphan-new"):
        files[name] = data.uploads / f"{name}.png"
        files[name].write_bytes(b"png")
    old = store.create({"prompt": "x", "image": "uploads/finished-long-ago.png"})["id"]
    now = store.create({"prompt": "x", "image": "uploads/finished-now.png"})["id"]
    store.create({"prompt": "x", "image": "uploads/queued.png"})
    store.finish(old, "succeeded")
    store.finish(now, "cancelled")
    past = time.time() - 2 * 3600
    with sqlite3.connect(data.database) as db:
        db.execute("UPDATE tasks SET finished = ? WHERE id = ?", (past, old))
    aged = time.time() - ORPHAN_UPLOAD_SECONDS - 60
    os.utime(files["orphan-old"], (aged, aged))
    assert prune_uploads(data, store, keep_seconds=3600) == 2
    assert _names(data.uploads) == ["finished-now.png", "orphan-new.png", "queued.png"]
    assert prune_uploads(data, store, keep_seconds=0) == 1  # 0: at the next cleanup
    assert _names(data.uploads) == ["orphan-new.png", "queued.png"]
