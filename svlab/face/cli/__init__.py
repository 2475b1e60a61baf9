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
import signal
import sys
import threading

from svlab.core.errors import SvlabError

# Modules under svlab.face.cli that add subcommands, in the order `--help` lists them.
COMMAND_MODULES = [
    "generate", "story", "media", "interpolate", "models", "plan", "sweep", "rerun", "runs",
    "compare", "report", "serve", "speed",
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


class Terminated(BaseException):
    """SIGTERM, raised where the command stands so that its cleanup runs (hidden partial files
    removed, nothing half-written left behind)."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a CJK prompt on an ASCII terminal: \uXXXX, not
        if hasattr(stream, "reconfigure"):   # a UnicodeEncodeError after the work is done
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread() and \
            not getattr(args, "own_signals", False):  # a server shuts down its own way
        signal.signal(signal.SIGTERM, _terminate)
    if not args.verbose:  # transformers' notices (e.g. "requires torchvision") are not ours
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        from svlab.face.cli.outputs_check import check_outputs

        check_outputs(args)  # no output over an input, whatever the command
        return args.func(args) or 0
    except SvlabError as e:
        message = " ".join(str(e).splitlines())  # one line, whatever a file name holds
        print(f"svlab {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"svlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"svlab {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
