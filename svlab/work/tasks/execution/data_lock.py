"""One server per data folder: `svlab serve` holds an exclusive lock on DATA/.serve.lock for
its whole life (the kernel releases it when the process ends, SIGKILL included). A second
server on the same folder is refused in one line before it touches anything: its start-up
cleanup would delete the first one's staging folders and fail its running tasks."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from svlab.core.errors import InputError

LOCK_NAME = ".serve.lock"


@contextlib.contextmanager
def data_folder_lock(data: str | Path) -> Iterator[Path]:
    """Hold the data folder's lock; InputError when another server holds it."""
    folder = Path(data)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK_NAME, "a+")
    except OSError as e:
        raise InputError(f"cannot use {str(folder)!r} as the data folder: "
                         f"{e.strerror or e}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read(32).strip()
            raise InputError(f"another svlab serve (pid {holder or '?'}) uses the data folder "
                             f"{str(folder)!r}; stop it, or give this one another --data") \
                from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield folder
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
