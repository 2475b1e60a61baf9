"""The one check that a command's output is not one of its inputs, by any path.

Every command that writes calls `refuse_overlap(outputs, inputs)` before any work starts:
an output (a video, its manifest, a sidecar, a sheet, a table) that names an input by
another path (relative, through a symlink, a hard link, `..`) is refused with one line. Two
paths are the same file when `os.path.samefile` says so (same device and inode: symlinks and
hard links); a path that does not exist yet is compared by its resolved form (its folder may
be reached through a symlink).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from svlab.core.errors import InputError

PathLike = str | os.PathLike


def _resolved(path: Path) -> Path | None:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None


def same_path(a: PathLike, b: PathLike) -> bool:
    """Whether writing `b` would write the file `a` (by inode when both exist, else by their
    resolved paths)."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    ra, rb = _resolved(a), _resolved(b)
    return ra is not None and ra == rb


def refuse_overlap(outputs: Iterable[PathLike | None], inputs: Iterable[PathLike | None], *,
                   what: str = "output") -> None:
    """InputError when one of `outputs` is one of `inputs` (by any path). Nones are skipped."""
    ins = [Path(p) for p in inputs if p is not None and str(p) != ""]
    for out in outputs:
        if out is None or str(out) == "":
            continue
        for source in ins:
            if same_path(source, out):
                shown = f"{str(out)!r}" if Path(out) == source else \
                    f"{str(out)!r} (the same file as {str(source)!r})"
                raise InputError(f"{what} {shown} is also an input of this command; write to "
                                 "a new file (an input is never replaced)")


def refuse_inside(outputs: Iterable[PathLike | None], folder: PathLike, *,
                  what: str = "output") -> None:
    """InputError when an output would land inside `folder` (resolved), e.g. a comparison's
    sheet among a sweep's runs."""
    root = _resolved(Path(folder))
    for out in outputs:
        if out is None or root is None:
            continue
        resolved = _resolved(Path(out))
        if resolved is not None and (resolved == root or root in resolved.parents):
            raise InputError(f"{what} {str(out)!r} lies inside {str(folder)!r}, which holds "
                             "this command's inputs; write it elsewhere")
