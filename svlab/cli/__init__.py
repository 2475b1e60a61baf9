"""The `svlab` command. Each group of subcommands lives in its own module with a
`register(subparsers)` function; heavy imports (torch, diffusers) happen inside the commands,
so `svlab --help` stays instant.

A user's mistake (an `SvlabError`, or a bad flag) exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ..errors import SvlabError

# Modules under svlab.cli that add subcommands, in the order `--help` lists them.
COMMAND_MODULES = [
    "generate", "story", "media", "interpolate", "models", "plan", "sweep", "rerun", "compare",
    "report", "serve",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + error
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="svlab", description="Image-to-video research workbench.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:  # transformers' notices (e.g. "requires torchvision") are not ours
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except SvlabError as e:
        print(f"svlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"svlab {args.command}: interrupted", file=sys.stderr)
        return 130
