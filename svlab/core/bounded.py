"""Files a user hands svlab (settings, sweeps, storyboards, parameters, manifests) read with
bounded work: a size cap checked before reading, UTF-8 text, YAML without anchors and aliases
(an alias bomb expands a few hundred bytes into gigabytes), a nesting depth cap, and an error
message of one short line whatever the file holds.

    data = load_structured(path, "sweep file")          # YAML or JSON by suffix
    data = load_structured(path, "manifest", max_bytes=MAX_MANIFEST_BYTES, kind="json")
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from svlab.core.errors import InputError

MAX_FILE_BYTES = 1 << 20  # a settings, sweep, storyboard or parameters file: 1 MiB
MAX_MANIFEST_BYTES = 8 << 20  # a manifest (a storyboard's lists its scenes): 8 MiB
MAX_DEPTH = 32  # nesting of mappings and lists; a storyboard needs 5
MAX_SHOWN = 160  # characters of a parser's message shown in the one error line


def read_text_capped(path: str | Path, what: str, *, max_bytes: int = MAX_FILE_BYTES,
                     error: type[Exception] = InputError) -> str:
    """The UTF-8 text of `path`, refused (one line) when larger than `max_bytes` (checked on
    the open file, and again while reading: a growing file is not read past the cap)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise error(f"{what} {path} is {size} bytes; accepted: at most {max_bytes} "
                            "bytes")
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} is larger than {max_bytes} bytes; accepted: at most "
                    f"{max_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text; accepted: a YAML or JSON file") \
            from None


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def _no_alias_loader():
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        """yaml.safe_load without aliases (an anchor alone is harmless)."""

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.YAMLError(f"YAML aliases (*{event.anchor}) are not accepted "
                                     f"(line {event.start_mark.line + 1}); write the values out")
            return super().compose_node(parent, index)

    return NoAliasLoader


def parse_text(text: str, what: str, *, kind: str = "yaml", max_depth: int = MAX_DEPTH,
               error: type[Exception] = InputError) -> Any:
    """`text` parsed as YAML (no aliases) or strict JSON (no NaN), nested at most
    `max_depth` deep."""
    import yaml

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise ValueError(f"number {token[:20]} is out of range")
        return value

    def no_constant(token: str):
        raise ValueError(f"{token} is not a number JSON accepts")

    try:
        if kind == "json":
            data = json.loads(text, parse_constant=no_constant, parse_float=finite)
        else:
            data = yaml.load(text, Loader=_no_alias_loader())  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise error(f"{what} is nested too deeply; accepted: at most {max_depth} levels") \
            from None
    except (ValueError, yaml.YAMLError) as e:
        raise error(f"{what} is not valid {'JSON' if kind == 'json' else 'YAML'}: "
                    f"{_short(e)}") from None
    check_depth(data, what, max_depth=max_depth, error=error)
    return data


def check_depth(data: Any, what: str, *, max_depth: int = MAX_DEPTH,
                error: type[Exception] = InputError) -> None:
    """`error` when mappings and lists nest deeper than `max_depth` (iterative: no
    recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise error(f"{what} is nested too deeply; accepted: at most {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)


def load_structured(path: str | Path, what: str, *, max_bytes: int = MAX_FILE_BYTES,
                    kind: str | None = None, max_depth: int = MAX_DEPTH,
                    error: type[Exception] = InputError) -> Any:
    """A YAML or JSON file (by suffix unless `kind` says), size-capped, without aliases,
    depth-capped."""
    path = Path(path)
    text = read_text_capped(path, what, max_bytes=max_bytes, error=error)
    kind = kind or ("json" if path.suffix.lower() == ".json" else "yaml")
    return parse_text(text, f"{what} {path}", kind=kind, max_depth=max_depth, error=error)


def expand_user(path: str | Path, where: str) -> Path:
    """`path` with a leading ~ or ~user expanded; InputError (not RuntimeError) when that user
    or home is unknown."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise InputError(f"{where}: cannot expand {str(path)!r}: no such user or home folder; "
                         "accepted: an absolute path or one relative to the file") from None
