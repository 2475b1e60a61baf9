"""Files written in one step: every unfinished write in svlab goes to a hidden name beside its
final name (`.NAME.TOKEN.partSUFFIX`), renamed into place when it is complete and deleted when
it is not, so a reader never sees half a file under a final name.

One temporary-name scheme for the whole package: `atomic_output` (one file) and
`svlab.media.outputs.Publication` (a video, its manifest and its sidecars under one token) both
take their names from `hidden_name`, and `PARTIAL_GLOB` finds what an interrupted write left.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

PARTIAL_GLOB = ".*.part*"  # what `hidden_name` makes, whatever the token and suffix


def new_token() -> str:
    """A fresh token, so that two writers of the same final name never share a hidden one."""
    return secrets.token_hex(6)


def hidden_name(final: str | Path, token: str) -> Path:
    """The hidden name beside `final` that a write under `token` goes to. Same folder and same
    suffix (ffmpeg picks the muxer by it), so the rename into place is atomic."""
    final = Path(os.path.abspath(final))
    return final.with_name(f".{final.stem}.{token}.part{final.suffix}")


def is_partial(path: str | Path) -> bool:
    """Whether `path` is a name `hidden_name` makes (an unfinished write)."""
    return Path(path).match(PARTIAL_GLOB)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a fresh hidden name beside `path` to write to; rename it to `path` when the block
    succeeds, delete it when the block fails or is interrupted. So no reader ever sees a
    half-written file under the final name, and an existing file there survives a failure.

    The file is not created here: the writer creates it with the usual permissions (umask).
    """
    tmp = hidden_name(path, new_token())
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
