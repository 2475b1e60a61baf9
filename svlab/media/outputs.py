"""Where a result goes, and how it appears: a video, its manifest and its sidecars together or
not at all, and never over one of the command's own inputs.

    out = video_output(path, inputs=[source])        # checked, its folder made
    with Publication(out) as pub:
        write_video(frames, pub.video, fps)          # a hidden file beside `out`
        pub.manifest = build_manifest(...)
    # here out, out.json (and any sidecars) are in place; on an error nothing new is, and
    # whatever was at those names before is untouched
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from svlab.core.errors import InputError
from svlab.core.files import hidden_name, new_token
from svlab.core.manifest import manifest_path, manifest_text
from svlab.core.overlap import refuse_overlap
from svlab.core.run_index import record

DEFAULT_FOLDER = Path("outputs")
SIDECARS = (".vtt", ".srt")  # captions a video may be published with


def video_output(out: str | Path | None, *, inputs: Iterable[str | Path] = (),
                 suffixes: tuple[str, ...] = (".mp4",)) -> Path:
    """The path a command writes its video to: `out`, or a new name under ./outputs/. Checks,
    before any work starts, the suffix, that the folder can be made or written, and that
    neither the video nor its manifest would replace a folder or one of `inputs`. Creates
    nothing: the folder is made when the result is published."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = DEFAULT_FOLDER / f"svlab-{stamp}-{secrets.token_hex(3)}.mp4"
    out = Path(out)
    if "\0" in str(out):
        raise InputError("output path contains a NUL byte")
    if out.suffix.lower() not in suffixes:
        raise InputError(f"output {str(out)!r} must end in {' or '.join(suffixes)}")
    for path in (out, manifest_path(out)):
        if path.is_dir():
            raise InputError(f"output {str(path)!r} is a folder; give another output name")
    refuse_overlap([out, manifest_path(out), *(out.with_suffix(s) for s in SIDECARS)],
                   inputs)
    existing = next(p for p in (out.parent, *out.parent.parents) if p.exists() or p == p.parent)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"cannot create output folder {str(out.parent)!r}: "
                         f"{str(existing)!r} is not a writable folder")
    return out


def make_folder(out: Path) -> Path:
    """`out`, once its folder exists."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {str(out.parent)!r}: "
                         f"{e.strerror or e}") from None
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: writing `b` cannot replace `a`
        return False


class Publication:
    """A video, its manifest and its sidecars (captions) published as one step.

    Inside the block the caller writes to `video` and `sidecar(suffix)`, hidden names beside
    `out`, and sets `manifest`. On success the manifest is written to a hidden file first,
    then the sidecars, the video and the manifest are renamed into place in that order (each
    rename is atomic, so a reader never sees half a file), and the video is recorded in the
    run index (`svlab.core.run_index`). On any error every hidden file is removed and nothing
    under the final names has changed.
    """

    def __init__(self, out: Path):
        self.out = make_folder(Path(out))
        self._token = new_token()
        self.video = self._hidden(self.out)
        self.manifest: Mapping[str, Any] | None = None
        self._sidecars: dict[str, Path] = {}

    def _hidden(self, final: Path) -> Path:
        return hidden_name(final, self._token)

    def sidecar(self, suffix: str) -> Path:
        """The hidden path to write the sidecar `out` with `suffix` (".vtt", ".srt") to."""
        self._sidecars[suffix] = self._hidden(self.out.with_suffix(suffix))
        return self._sidecars[suffix]

    def __enter__(self) -> "Publication":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        staged_manifest = self._hidden(manifest_path(self.out))
        try:
            if kind is None:
                if self.manifest is None:
                    raise RuntimeError("Publication ended without a manifest")
                staged_manifest.write_text(manifest_text(self.manifest), encoding="utf-8")
                for suffix, path in self._sidecars.items():
                    os.replace(path, self.out.with_suffix(suffix))
                os.replace(self.video, self.out)
                os.replace(staged_manifest, manifest_path(self.out))
                record(self.out, self.manifest)
        finally:
            for path in (self.video, staged_manifest, *self._sidecars.values()):
                path.unlink(missing_ok=True)

    @property
    def sidecars(self) -> dict[str, Path]:
        """The final paths of the sidecars written, by suffix."""
        return {suffix: self.out.with_suffix(suffix) for suffix in self._sidecars}
