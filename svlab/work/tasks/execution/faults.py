"""What went wrong, said safely: full storage told apart from other failures, and messages
stripped of the server's absolute paths before a client reads them.

A client of the task API learns what was wrong with its request or its task, never where the
server keeps its files: paths under the data folder are shown relative to it
(`uploads/…png`), and any other absolute path by its last part only.
"""

from __future__ import annotations

import errno
import re
import sqlite3
from pathlib import Path
from typing import Any

# ENOSPC: the file system is full; EDQUOT: the user's quota is; EFBIG: a file-size limit
# (RLIMIT_FSIZE, or the file system's largest file). Each means "cannot store this now".
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# How the same conditions read in a child's message (ffmpeg prints strerror).
STORAGE_WORDS = ("No space left on device", "Disk quota exceeded", "File too large",
                 "database or disk is full")
STORAGE_FULL = "the disk holding the server's data folder is full"
# An absolute path (two parts at least); the API's own routes (/api/..., /docs) are not paths.
ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(=\[])/(?!api/|docs\b|openapi\.json)"
                           r"(?:[^\s/'\":,|]+/)+([^\s/'\":,|]*)")
# Manifest fields that hold the user's own text: shown as written (a prompt may say "/x/y").
TEXT_KEYS = frozenset({"prompt", "negative_prompt", "text", "title"})


def is_storage_full(exc: BaseException) -> bool:
    """Whether `exc` means the data folder's storage is full (rather than a bug or bad input)."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == \
            sqlite3.SQLITE_FULL:
        return True
    return any(words in str(exc) for words in STORAGE_WORDS)


def redact(text: str, data: Path) -> str:
    """`text` with paths under `data` made relative to it and other absolute paths cut to
    their last part."""
    root = str(data).rstrip("/") + "/"
    text = text.replace(root, "").replace(root[:-1], ".")
    return ABSOLUTE_PATH.sub(lambda m: m.group(1) or "/", text)


def redact_tree(value: Any, data: Path, key: str | None = None) -> Any:
    """A JSON value with every path under `data` in its strings made relative to it (a
    manifest records absolute paths; a client is shown them relative to the data folder), and
    any other absolute path (a model's folder, the Hugging Face cache in a fallback reason)
    cut to its last part; the user's own text (`TEXT_KEYS`) only loses the data folder."""
    root = str(data).rstrip("/") + "/"
    if isinstance(value, str):
        return value.replace(root, "") if key in TEXT_KEYS else redact(value, data)
    if isinstance(value, list):
        return [redact_tree(v, data, key) for v in value]
    if isinstance(value, dict):
        return {k: redact_tree(v, data, k) for k, v in value.items()}
    return value


def one_line(text: str, limit: int = 1000) -> str:
    """A message on one line, at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
