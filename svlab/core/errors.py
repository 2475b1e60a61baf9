"""One exception hierarchy, so callers (the CLI, the HTTP API, the panel) can tell a user's
mistake from a bug.

Every error a user can cause derives from `SvlabError` and carries a message that names what
was wrong and what is accepted. The CLI turns these into exit status 2 and one line on stderr.
"""

from __future__ import annotations

import difflib
from pathlib import Path


class SvlabError(Exception):
    """Base class for errors a user can cause and fix."""


class ConfigError(SvlabError, ValueError):
    """A setting has a wrong name, type or value."""


class InputError(SvlabError, ValueError):
    """An input (file, image, frames, text) is missing, unreadable or of the wrong shape."""


class ModelUnavailableError(SvlabError, RuntimeError):
    """A model cannot be loaded: no weights, corrupt checkpoint, or a missing backend."""


class FFmpegError(SvlabError, RuntimeError):
    """ffmpeg refused a job; the message holds the end of its stderr."""


def require_file(path: str | Path, what: str) -> Path:
    """`path` as a Path when it names a file; else the standard InputError (checked before any
    heavy import, so a command line's mistake is answered at once)."""
    path = Path(path)
    if "\0" in str(path):
        raise InputError(f"{what} path contains a NUL byte")
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    return path


def did_you_mean(name: str, choices) -> str:
    """' (did you mean X?)' for the closest known name, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_choice(kind: str, name: str, choices) -> str:
    """The standard message for a value outside a fixed set of choices."""
    accepted = ", ".join(sorted(str(c) for c in choices))
    return f"unknown {kind} {name!r}{did_you_mean(name, choices)}; accepted: {accepted}"
