"""The worker: runs tasks to a video and manifest, cancels and pauses cleanly."""

from __future__ import annotations

import json

import pytest

from svlab.processor import probe
from svlab.tasks import TaskStore, Worker
from svlab.tasks.worker import task_config, video_path


@pytest.fixture
def worker(tmp_path, config):
    return Worker(TaskStore(tmp_path / "tasks.db"), tmp_path, config)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_runs_a_prompt(worker, tmp_path):
    task = worker.store.create({"prompt": "清晨。黄昏。", "settings": {"seed": 3}})
    assert worker.run_once() and not worker.run_once()
    done = worker.store.get(task["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == {"stage": "done", "fraction": 1.0}
    video = video_path(tmp_path, task["id"])
    assert probe(video)["frames"] == 12
    assert done["manifest"] == json.loads(video.with_suffix(".json").read_text("utf-8"))
    assert done["manifest"]["seed"] == 3
    assert _files(video.parent) == sorted(f"{task['id']}{s}" for s in
                                          (".json", ".mp4", ".srt", ".vtt"))


def test_progress_and_cancel(worker, tmp_path, monkeypatch):
    task = worker.store.create({"prompt": "一。二。三。"})
    seen = []
    set_progress = worker.store.set_progress

    def record(task_id, progress):
        set_progress(task_id, progress)
        seen.append(progress)
        if progress.get("stage") == "clip" and progress["scene"] == 2:
            worker.cancel(task_id)  # as DELETE does from an HTTP thread

    monkeypatch.setattr(worker.store, "set_progress", record)
    worker.run_once()
    done = worker.store.get(task["id"])
    assert done["status"] == "cancelled" and "DELETE" in done["error"]
    assert [(p["stage"], p["scene"], p["fraction"]) for p in seen
            if p["stage"] == "clip"] == [("clip", 1, 0.0), ("clip", 2, 0.3333)]
    assert _files(tmp_path / "videos") == []  # nothing half-written stays


def test_stop_requeues_the_running_task(worker, tmp_path, monkeypatch):
    task = worker.store.create({"prompt": "一。二。"})
    set_progress = worker.store.set_progress

    def stop_midway(task_id, progress):
        set_progress(task_id, progress)
        worker._stop.set()  # what stop() does, without a thread to join

    monkeypatch.setattr(worker.store, "set_progress", stop_midway)
    worker.run_once()
    assert worker.store.get(task["id"])["status"] == "queued"
    assert _files(tmp_path / "videos") == []


def test_failures_are_recorded(worker, tmp_path):
    gone = worker.store.create({"prompt": "x", "image": "uploads/missing.png"})
    broken = worker.store.create({"storyboard": {"scenes": [{"text": "a", "image": "../x.png"}]}})
    worker.run_once()
    worker.run_once()
    assert "is gone from the data folder" in worker.store.get(gone["id"])["error"]
    assert worker.store.get(gone["id"])["status"] == "failed"
    assert "outside the folder" in worker.store.get(broken["id"])["error"]


def test_cancel_requested_before_start(worker):
    task = worker.store.create({"prompt": "x"})
    worker.store.claim_next()
    worker.store.request_cancel(task["id"])
    worker.store.requeue(task["id"])  # e.g. a restart between the DELETE and the run
    worker.run_once()
    assert worker.store.get(task["id"])["status"] == "cancelled"


def test_thread_and_leftovers(worker, tmp_path):
    videos = tmp_path / "videos"
    (videos / ".abc.part.mp4").write_bytes(b"half")
    (videos / ".abc.parts").mkdir()
    task = worker.store.create({"prompt": "x"})
    worker.start()
    try:
        for _ in range(600):
            if worker.store.get(task["id"])["status"] == "succeeded":
                break
            worker._wake.wait(0.05)
    finally:
        worker.stop()
    assert worker.store.get(task["id"])["status"] == "succeeded"
    assert not any(name.startswith(".") for name in _files(videos))


def test_task_config_layers(config):
    assert task_config({"settings": {"seed": 9}}, config).seed == 9
    board = {"scenes": ["a"], "settings": {"num_frames": 4, "seed": 1}}
    merged = task_config({"storyboard": board, "settings": {"seed": 2}}, config)
    assert (merged.num_frames, merged.seed, merged.model) == (4, 2, "fallback")
    standard = task_config({"profile": "standard", "settings": {}}, config)
    assert standard.height == 576

