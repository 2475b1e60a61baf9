"""Before any command runs: its outputs (the named `--out` and `--sheet` files, and the
manifest and caption sidecars an `.mp4` output brings) must not be any of its input files by
any path (`svlab.overlap`). One place for every command, so a new command's flags are covered
once they use the usual names."""

from __future__ import annotations

import argparse
from pathlib import Path

# Argument names (argparse dests) that hold input files, one path or a list of them.
INPUT_ARGS = ("image", "config", "storyboard", "music", "video", "inputs", "manifest",
              "params", "sweep", "notebooks")
OUTPUT_ARGS = ("out", "sheet")
VIDEO_SUFFIXES = (".mp4",)
SIDECARS = (".json", ".vtt", ".srt")


def outputs_of(args: argparse.Namespace) -> list[Path]:
    found = []
    for name in OUTPUT_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)) and str(value):
            path = Path(value)
            found.append(path)
            if path.suffix.lower() in VIDEO_SUFFIXES:
                found += [path.with_suffix(s) for s in SIDECARS]
    return found


def inputs_of(args: argparse.Namespace) -> list[Path]:
    found = []
    for name in INPUT_ARGS:
        value = getattr(args, name, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        found += [Path(v) for v in values if isinstance(v, (str, Path)) and str(v)]
    return found


def check_outputs(args: argparse.Namespace) -> None:
    """InputError when an output of the command is one of its input files."""
    from svlab.core.overlap import refuse_overlap

    refuse_overlap(outputs_of(args), [p for p in inputs_of(args) if not p.is_dir()])
