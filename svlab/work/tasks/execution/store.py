"""The task store: every accepted task is a row in SQLite before the client hears back.

SQLite in WAL mode lets the HTTP threads read while the worker writes, and a committed row
survives the process being killed (even with SIGKILL). A task's life:

    queued -> running -> succeeded | failed | cancelled
       ^         |
       +---------+  (interrupted: server stopped or killed; re-run at the next start)

A task that has been interrupted `MAX_ATTEMPTS` times is marked failed instead of being
re-run forever (a task that kills the server, e.g. by exhausting memory, must not keep doing so).

The store is the single source of truth for task state: workers claim tasks with an atomic
update, and a cancellation is a flag in the row that every worker reads, so several workers
(threads or processes) can share one store. Values are stored as strict JSON: NaN and
Infinity are refused on the way in, and read back as null from rows an older version wrote.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from svlab.core.errors import InputError

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
MAX_ATTEMPTS = 3
TASK_ID = re.compile(r"[0-9a-f]{32}")
DONE = '{"stage": "done", "fraction": 1.0}'  # the progress of a task that succeeded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    progress TEXT,
    error TEXT,
    manifest TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS tasks_status_seq ON tasks (status, seq);
"""


def valid_task_id(task_id: str) -> bool:
    """Whether `task_id` has the form of an id this store makes (so it is safe in a path)."""
    return bool(TASK_ID.fullmatch(task_id))


class TaskStore:
    """Tasks in one SQLite file; safe to use from many threads (one connection each)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            self._connection().executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:  # a corrupt file, or not a database at all
            self.close()
            raise InputError(f"{self.path.name} is not a readable svlab task database "
                             f"({e}); move it away to start with an empty one") from None

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # Autocommit (isolation_level=None): each statement commits on its own, and the
            # few read-modify-write steps take the write lock first with BEGIN IMMEDIATE.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                 check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a 202 means the row is on disk
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writes -------------------------------------------------------------------------

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        """Accept a task: stored as queued, committed before this returns."""
        task_id = uuid.uuid4().hex
        self._connection().execute(
            "INSERT INTO tasks (id, status, request, created) VALUES (?, 'queued', ?, ?)",
            (task_id, _dumps(request), time.time()),
        )
        return self.get(task_id)

    def claim_next(self) -> dict[str, Any] | None:
        """The oldest queued task, now marked running (None when the queue is empty)."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT id FROM tasks WHERE status = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE tasks SET status = 'running', started = ?, progress = NULL, "
                    "attempts = attempts + 1 WHERE id = ?",
                    (time.time(), row["id"]),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(row["id"]) if row is not None else None

    def set_progress(self, task_id: str, progress: dict[str, Any]) -> None:
        self._connection().execute(
            "UPDATE tasks SET progress = ? WHERE id = ? AND status = 'running'",
            (_dumps(progress), task_id),
        )

    def finish(self, task_id: str, status: str, *, error: str | None = None,
               manifest: dict[str, Any] | None = None) -> None:
        """Record the end of a run: succeeded (with its manifest), failed or cancelled."""
        if status not in FINISHED:
            raise ValueError(f"finish() takes one of {FINISHED}, got {status!r}")
        self._connection().execute(
            "UPDATE tasks SET status = ?, error = ?, manifest = ?, finished = ? WHERE id = ?",
            (status, error, _dumps(manifest) if manifest else None, time.time(), task_id),
        )

    def complete(self, task_id: str, manifest: dict[str, Any],
                 publish: Callable[[], None]) -> bool:
        """Record a run's success, unless its task was cancelled meanwhile: `publish()` (which
        puts the result in place) runs inside the same write transaction, after the check.
        Returns False, changing nothing, when the task was cancelled or is no longer running;
        a cancelled task therefore never ends as succeeded."""
        db = self._connection()
        text = _dumps(manifest)
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT status, cancel_requested FROM tasks WHERE id = ?",
                             (task_id,)).fetchone()
            if row is None or row["status"] != "running" or row["cancel_requested"]:
                db.execute("ROLLBACK")
                return False
            publish()
            db.execute("UPDATE tasks SET status = 'succeeded', error = NULL, manifest = ?, "
                       "progress = ?, finished = ? WHERE id = ?",
                       (text, DONE, time.time(), task_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return True

    def requeue(self, task_id: str) -> None:
        """Put a running task back in the queue (its run was interrupted, not finished)."""
        self._connection().execute(
            "UPDATE tasks SET status = 'queued', progress = NULL WHERE id = ? "
            "AND status = 'running'", (task_id,),
        )

    def recover_interrupted(self) -> dict[str, list[str]]:
        """At start: tasks left running by a stopped or killed server go back to the queue,
        or fail when they were interrupted MAX_ATTEMPTS times. Returns the ids of each."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT id, attempts, cancel_requested FROM tasks WHERE status = 'running'"
            ).fetchall()
            requeued, failed, cancelled = [], [], []
            now = time.time()
            for row in rows:
                if row["cancel_requested"]:
                    cancelled.append(row["id"])
                    db.execute("UPDATE tasks SET status = 'cancelled', finished = ? "
                               "WHERE id = ?", (now, row["id"]))
                elif row["attempts"] >= MAX_ATTEMPTS:
                    failed.append(row["id"])
                    db.execute(
                        "UPDATE tasks SET status = 'failed', finished = ?, error = ? "
                        "WHERE id = ?",
                        (now, f"interrupted {row['attempts']} times (the server stopped "
                              "during each run); not retried again", row["id"]),
                    )
                else:
                    requeued.append(row["id"])
                    db.execute("UPDATE tasks SET status = 'queued', progress = NULL "
                               "WHERE id = ?", (row["id"],))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return {"requeued": requeued, "failed": failed, "cancelled": cancelled}

    def request_cancel(self, task_id: str) -> dict[str, Any] | None:
        """Cancel a task: a queued one at once, a running one is flagged for the worker.

        Returns the task as it is now, or None for an unknown id; a finished task is
        returned unchanged.
        """
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("UPDATE tasks SET status = 'cancelled', finished = ?, "
                       "cancel_requested = 1 WHERE id = ? AND status = 'queued'",
                       (time.time(), task_id))
            db.execute("UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND "
                       "status = 'running'", (task_id,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(task_id)

    # -- reads --------------------------------------------------------------------------

    def cancel_requested(self, task_id: str) -> bool:
        row = self._connection().execute("SELECT cancel_requested FROM tasks WHERE id = ?",
                                          (task_id,)).fetchone()
        return bool(row and row["cancel_requested"])

    def uploads_in_use(self, *, finished_after: float) -> set[str]:
        """Upload paths named by tasks that are queued, running, or finished after the time."""
        rows = self._connection().execute(
            "SELECT json_extract(request, '$.image') AS image FROM tasks WHERE "
            "json_extract(request, '$.image') IS NOT NULL AND "
            "(status IN ('queued', 'running') OR finished >= ?)", (finished_after,)).fetchall()
        return {row["image"] for row in rows}

    def uploads_named(self) -> set[str]:
        """Upload paths named by any task."""
        rows = self._connection().execute(
            "SELECT json_extract(request, '$.image') AS image FROM tasks WHERE "
            "json_extract(request, '$.image') IS NOT NULL").fetchall()
        return {row["image"] for row in rows}

    def get(self, task_id: str) -> dict[str, Any] | None:
        row = self._connection().execute("SELECT * FROM tasks WHERE id = ?",
                                          (task_id,)).fetchone()
        return _task(row) if row is not None else None

    def list(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        query, args = "SELECT * FROM tasks", []
        if status is not None:
            query, args = query + " WHERE status = ?", [status]
        rows = self._connection().execute(query + " ORDER BY seq DESC LIMIT ?",
                                          [*args, limit]).fetchall()
        return [_task(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self._connection().execute(
            "SELECT status, COUNT(*) AS n FROM tasks GROUP BY status").fetchall()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({row["status"]: row["n"] for row in rows})
        return counts

    def queue_position(self, task_id: str) -> int | None:
        """How many queued tasks run before this one (0: next), None if it is not queued."""
        db = self._connection()
        row = db.execute("SELECT seq FROM tasks WHERE id = ? AND status = 'queued'",
                         (task_id,)).fetchone()
        if row is None:
            return None
        return db.execute("SELECT COUNT(*) FROM tasks WHERE status = 'queued' AND seq < ?",
                          (row["seq"],)).fetchone()[0]


def _dumps(value: Any) -> str:
    """Strict JSON: a NaN or an infinity raises ValueError instead of being stored."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _loads(text: str | None) -> Any:
    """JSON as stored; the NaN/Infinity an older version may have written read as null."""
    return json.loads(text, parse_constant=lambda _: None) if text else None


def _task(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "request": _loads(row["request"]),
        "progress": _loads(row["progress"]),
        "error": row["error"],
        "manifest": _loads(row["manifest"]),
        "attempts": row["attempts"],
        "cancel_requested": bool(row["cancel_requested"]),
        "created": row["created"],
        "started": row["started"],
        "finished": row["finished"],
    }
