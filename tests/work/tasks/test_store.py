"""The SQLite task store: durable, ordered, safe across threads and restarts."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from svlab.core.errors import InputError
from svlab.work.tasks.execution.store import MAX_ATTEMPTS, TaskStore, valid_task_id


def test_create_and_reopen(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    task = store.create({"prompt": "森林"})
    assert task["status"] == "queued" and valid_task_id(task["id"])
    assert task["request"] == {"prompt": "森林"} and task["attempts"] == 0
    # Another connection (another process after a restart) sees the committed row.
    again = TaskStore(tmp_path / "t.db").get(task["id"])
    assert again == task
    mode = sqlite3.connect(tmp_path / "t.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_claim_in_order(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    ids = [store.create({"n": i})["id"] for i in range(3)]
    assert [store.queue_position(i) for i in ids] == [0, 1, 2]
    first = store.claim_next()
    assert first["id"] == ids[0] and first["status"] == "running" and first["attempts"] == 1
    assert store.queue_position(ids[0]) is None and store.queue_position(ids[2]) == 1
    assert store.claim_next()["id"] == ids[1]
    store.finish(ids[0], "succeeded", manifest={"engine": "fallback"})
    done = store.get(ids[0])
    assert done["status"] == "succeeded" and done["manifest"] == {"engine": "fallback"}
    assert done["finished"] >= done["started"] >= done["created"]
    assert [t["id"] for t in store.list()] == ids[::-1]
    assert [t["id"] for t in store.list(status="queued")] == [ids[2]]
    assert store.counts() == {"queued": 1, "running": 1, "succeeded": 1, "failed": 0,
                              "cancelled": 0}


def test_recover_interrupted(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    a, b, c = (store.create({"n": i})["id"] for i in range(3))
    for _ in range(3):
        store.claim_next()
    store.request_cancel(c)  # running: only flagged
    assert store.get(c)["status"] == "running" and store.get(c)["cancel_requested"]
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("UPDATE tasks SET attempts = ? WHERE id = ?", (MAX_ATTEMPTS, b))
    db.commit()
    # As after a SIGKILL: a fresh store on the same file.
    recovered = TaskStore(tmp_path / "t.db").recover_interrupted()
    assert recovered == {"requeued": [a], "failed": [b], "cancelled": [c]}
    assert store.get(a)["status"] == "queued" and store.get(a)["progress"] is None
    assert store.get(b)["status"] == "failed" and "interrupted 3 times" in store.get(b)["error"]
    assert store.get(c)["status"] == "cancelled"
    assert store.claim_next()["attempts"] == 2  # the re-run counts as a second attempt


def test_cancel(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    task = store.create({})
    assert store.request_cancel(task["id"])["status"] == "cancelled"
    assert store.claim_next() is None
    assert store.request_cancel("0" * 32) is None
    store.finish(task["id"], "failed", error="x")  # finish is the worker's last word
    assert store.request_cancel(task["id"])["status"] == "failed"


def test_progress_only_while_running(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    task = store.create({})
    store.set_progress(task["id"], {"scene": 1})
    assert store.get(task["id"])["progress"] is None
    store.claim_next()
    store.set_progress(task["id"], {"scene": 1, "scenes": 2})
    assert store.get(task["id"])["progress"] == {"scene": 1, "scenes": 2}


def test_many_threads(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    claimed, lock = [], threading.Lock()

    def producer():
        for _ in range(20):
            store.create({})

    def consumer():
        for _ in range(40):
            task = store.claim_next()
            if task:
                with lock:
                    claimed.append(task["id"])

    threads = [threading.Thread(target=producer) for _ in range(4)]
    threads += [threading.Thread(target=consumer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    while (task := store.claim_next()) is not None:
        claimed.append(task["id"])
    assert len(claimed) == len(set(claimed)) == 80  # each task claimed exactly once


def test_valid_task_id():
    assert valid_task_id("0123456789abcdef0123456789abcdef")
    for bad in ("../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", "abc", "",
                "0123456789abcdef0123456789abcdef/"):
        assert not valid_task_id(bad)


def test_complete_publishes_unless_cancelled(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    a, b = (store.create({"n": i})["id"] for i in range(2))
    store.claim_next()
    store.claim_next()
    published = []
    assert store.complete(a, {"engine": "fallback"}, lambda: published.append(a))
    done = store.get(a)
    assert done["status"] == "succeeded" and done["progress"] == {"stage": "done",
                                                                  "fraction": 1.0}
    store.request_cancel(b)  # DELETE arrives while the run is finishing
    assert not store.complete(b, {"engine": "fallback"}, lambda: published.append(b))
    assert published == [a] and store.get(b)["status"] == "running"
    assert not store.complete(a, {}, lambda: published.append("again"))  # not running now


def test_complete_rolls_back_when_publishing_fails(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    task = store.create({})
    store.claim_next()

    def publish():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.complete(task["id"], {"x": 1}, publish)
    assert store.get(task["id"])["status"] == "running"  # a failure can still be recorded


def test_non_finite_numbers_are_never_stored(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    with pytest.raises(ValueError):
        store.create({"settings": {"noise_aug_strength": float("nan")}})
    assert store.counts()["queued"] == 0
    # A row an older version wrote with a bare NaN reads back as valid JSON (null).
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("INSERT INTO tasks (id, status, request, created) VALUES (?, 'queued', ?, 0)",
               ("a" * 32, '{"settings": {"noise_aug_strength": NaN}}'))
    db.commit()
    assert store.get("a" * 32)["request"] == {"settings": {"noise_aug_strength": None}}


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "tasks.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="tasks.db is not a readable svlab task database"):
        TaskStore(path)


def test_uploads_named_and_in_use(tmp_path):
    store = TaskStore(tmp_path / "t.db")
    old = store.create({"prompt": "x", "image": "uploads/old.png"})["id"]
    recent = store.create({"prompt": "x", "image": "uploads/recent.png"})["id"]
    store.create({"prompt": "x", "image": "uploads/queued.png"})
    store.create({"prompt": "no image"})
    store.finish(old, "succeeded")
    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("UPDATE tasks SET finished = 100 WHERE id = ?", (old,))
    db.commit()
    store.finish(recent, "failed", error="x")
    assert store.uploads_named() == {"uploads/old.png", "uploads/recent.png",
                                     "uploads/queued.png"}
    assert store.uploads_in_use(finished_after=1000) == {"uploads/recent.png",
                                                         "uploads/queued.png"}
