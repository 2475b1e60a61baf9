"""The run index: one SQLite row per video svlab made, so that "the run I made yesterday with
seed 3" can be found across kernels, processes and days.

Why here, in the lowest layer: every video is published by `svlab.media.outputs.Publication`
(the service, storyboards, sweeps, reruns, the command line), and recording from that one
place means no caller can forget to. So the index needs only the standard library.

Kept in `SVLAB_RUNS_INDEX` (default `$XDG_DATA_HOME/svlab/runs.sqlite`, that is
`~/.local/share/svlab/runs.sqlite`; `off` keeps nothing). WAL mode and a busy timeout let a
sweep and a notebook record at once from two processes. Recording never fails a generation:
a problem is logged as a warning. A file that is not a readable SQLite database is never
dropped silently: it is renamed aside as a backup, a fresh index starts, and the message says
how to record the videos on disk again (`svlab runs --rebuild DIR`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

from svlab.core.config import VideoConfig
from svlab.core.errors import InputError, unknown_choice
from svlab.core.manifest import jsonable, manifest_path

log = logging.getLogger(__name__)

INDEX_ENV = "SVLAB_RUNS_INDEX"
SCHEMA = 1
COLUMNS = ("created", "model", "engine", "input", "prompt", "status")
SETTINGS = tuple(VideoConfig().to_dict())  # the settings a row keeps, under their own names
WHERE_KEYS = frozenset(COLUMNS) | frozenset(SETTINGS)
_TABLE = """CREATE TABLE IF NOT EXISTS runs (
    video TEXT PRIMARY KEY, manifest TEXT NOT NULL, created TEXT, model TEXT, engine TEXT,
    input TEXT, prompt TEXT, status TEXT NOT NULL, settings TEXT NOT NULL, metrics TEXT)"""


class CorruptIndexError(InputError):
    """The index file is not a readable SQLite database; it was kept aside as a backup."""


@dataclass
class Run:
    """One row: a video, its manifest, and what it was made with. `status` is "done", or
    "missing" once the video has been deleted."""

    video: str
    manifest: str
    created: str | None
    model: str | None
    engine: str | None
    input: str | None
    prompt: str | None
    status: str
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Flat: the settings under their own names beside the columns (`seed`, `model`, ...),
        the metrics as a mapping."""
        flat = asdict(self)
        return {**flat.pop("settings"), **flat}


def index_path() -> Path | None:
    """Where the index is kept, or None when SVLAB_RUNS_INDEX is `off`."""
    value = os.environ.get(INDEX_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser()
    data = os.environ.get("XDG_DATA_HOME", "").strip() or "~/.local/share"
    return Path(data).expanduser() / "svlab" / "runs.sqlite"


def row_of(video: str | Path, manifest: Mapping[str, Any]) -> Run:
    """The row for a published video from its manifest (as `build_manifest` makes it)."""
    inputs = manifest.get("inputs") or {}
    image = inputs.get("image") if isinstance(inputs.get("image"), Mapping) else {}
    info = manifest.get("model_info") if isinstance(manifest.get("model_info"), Mapping) else {}
    video = Path(os.path.abspath(video))
    return Run(video=str(video), manifest=str(manifest_path(video)),
               created=manifest.get("created"), model=info.get("model") or manifest.get("model"),
               engine=manifest.get("engine"), input=image.get("image") or image.get("name"),
               prompt=inputs.get("prompt"), status="done",
               settings={k: jsonable(manifest[k]) for k in SETTINGS if k in manifest})


def record(video: str | Path, manifest: Mapping[str, Any]) -> None:
    """Add (or replace) the row of a published video. Never raises: a generation must not fail
    because its history could not be written; the reason is logged as a warning."""
    try:
        _store(row_of(video, manifest))
    except Exception as e:  # noqa: BLE001 (any failure of the index is only a warning)
        log.warning("run not recorded in the run index: %s", e)


def move(old: str | Path, new: str | Path) -> None:
    """The row of a video renamed after it was published (a task's staging folder renamed
    into place): the old row goes, the new one is read from the manifest beside `new` (a Ray
    worker's result has no row yet). Never raises."""
    if index_path() is None:
        return
    try:
        manifest = json.loads(manifest_path(new).read_text(encoding="utf-8"))
        with _connection(repair=True) as db:
            if db is not None:
                db.execute("DELETE FROM runs WHERE video = ?", (os.path.abspath(old),))
        _store(row_of(new, manifest))
    except Exception as e:  # noqa: BLE001
        log.warning("moved run not recorded in the run index: %s", e)


def record_metrics(video: str | Path, metrics: Mapping[str, Any]) -> None:
    """Attach metrics to the row of `video` (computed after it was published). Never raises."""
    try:
        with _connection() as db:
            if db is not None:
                db.execute("UPDATE runs SET metrics = ? WHERE video = ?",
                           (json.dumps(jsonable(dict(metrics))), os.path.abspath(video)))
    except Exception as e:  # noqa: BLE001
        log.warning("metrics not recorded in the run index: %s", e)


def _store(run: Run) -> None:
    values = asdict(run)
    values["settings"] = json.dumps(values["settings"])
    values["metrics"] = None
    names = ", ".join(values)
    with _connection(repair=True) as db:
        if db is not None:
            db.execute(f"INSERT OR REPLACE INTO runs ({names}) VALUES "
                       f"({', '.join(':' + n for n in values)})", values)


def find(*, model: str | None = None, since: str | datetime | None = None,
         where: Mapping[str, str] | None = None) -> list[Run]:
    """The recorded runs, oldest first, that match every filter: `model`, made at or after
    `since` (ISO date or time; without a zone, local time), and `where` (setting or column
    name -> value as typed: `{"seed": "3"}`). A video deleted since is listed as missing."""
    where = dict(where or {})
    unknown = sorted(set(where) - WHERE_KEYS)
    if unknown:
        raise InputError(unknown_choice("--where key", unknown[0], WHERE_KEYS))
    start = parse_since(since) if since is not None else None
    with _connection() as db:
        rows = [] if db is None else db.execute(
            "SELECT * FROM runs ORDER BY created, video").fetchall()
    runs = [_run_of(r) for r in rows]
    return [run for run in runs
            if (model is None or run.model == model or run.settings.get("model") == model)
            and (start is None or (run.created and _when(run.created) >= start))
            and all(_matches(_value(run, k), v) for k, v in where.items())]


def parse_since(since: str | datetime) -> datetime:
    """`since` as an aware time: an ISO date (`2026-12-07`) or time; local when no zone."""
    if isinstance(since, datetime):
        return since.astimezone()
    try:
        return _when(str(since).strip())
    except ValueError:
        raise InputError(f"--since {since!r} is not a date; accepted: an ISO date or time "
                         "such as 2026-12-07 or 2026-12-07T14:30") from None


def parse_where(items: list[str]) -> dict[str, str]:
    """`["seed=3", "model=tiny"]` -> `{"seed": "3", "model": "tiny"}`."""
    where = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--where {item!r} is not KEY=VALUE (for example seed=3)")
        where[key.strip()] = value.strip()
    return where


def rebuild(folder: str | Path) -> int:
    """Record again every video under `folder` that has its manifest beside it (after a
    corrupt index was set aside, or for videos made elsewhere); returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--rebuild {str(folder)!r} is not a folder")
    count = 0
    for path in sorted(folder.rglob("*.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            output = manifest.get("output") if isinstance(manifest, dict) else None
            video = path.with_name(output["video"]) if isinstance(output, dict) else None
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a manifest
        if video is not None and manifest_path(video) == path and video.is_file():
            _store(row_of(video, manifest))
            count += 1
    return count


def _run_of(row: sqlite3.Row) -> Run:
    run = Run(**{k: row[k] for k in row.keys()})
    run.settings = json.loads(run.settings)
    run.metrics = json.loads(run.metrics) if run.metrics else None
    if not Path(run.video).is_file():
        run.status = "missing"
    return run


def _value(run: Run, key: str) -> Any:
    return getattr(run, key) if key in COLUMNS else run.settings.get(key)


def _matches(stored: Any, text: str) -> bool:
    """Whether a stored value equals a value as typed on a command line (`3`, `true`, `none`)."""
    if stored is None or isinstance(stored, bool):
        return text.lower() == str(stored).lower() or (stored is None and text == "")
    if isinstance(stored, (int, float)):
        try:
            return float(text) == stored
        except ValueError:
            return False
    return str(stored) == text


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone()  # a naive time is local


@contextlib.contextmanager
def _connection(*, repair: bool = False) -> Iterator[sqlite3.Connection | None]:
    """The index open in autocommit mode (None when it is off). A corrupt file is set aside:
    with `repair` (a writer) a warning is logged and a fresh index used; else CorruptIndexError."""
    path = index_path()
    if path is None:
        yield None
        return
    try:
        db = _open(path)
    except sqlite3.DatabaseError as e:
        if not _is_corrupt(e):
            raise
        error = CorruptIndexError(_set_aside(path, e))
        if not repair:
            raise error from None
        log.warning("%s", error)
        db = _open(path)
    try:
        yield db
    finally:
        db.close()


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(_TABLE)
        db.execute("SELECT count(*) FROM runs").fetchone()  # reads a page: finds corruption
        return db
    except BaseException:
        db.close()
        raise


def _is_corrupt(error: sqlite3.DatabaseError) -> bool:
    return getattr(error, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _set_aside(path: Path, error: Exception) -> str:
    """Rename a corrupt index (and its WAL files) to a backup name; the message to show."""
    backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{backup}{suffix}")
    return (f"run index {path} is not a readable SQLite database ({error}); kept it as "
            f"{backup} and started a new one; record the videos on disk again with "
            f"`svlab runs --rebuild DIR`")
