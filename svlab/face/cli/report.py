"""`svlab report`: run notebooks headless (papermill) and render them as HTML (nbconvert).

Exit status: 0 when every notebook ran, 1 when one or more failed (their reports still show
the failing cell), 2 for a mistake found before running (missing notebook, unknown parameter,
a value of the wrong type, an unreadable parameters file).
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from svlab.face.cli.common import add_json_flag, print_json

DEFAULT_NOTEBOOKS = "notebooks/*.ipynb"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="run notebooks headless and render HTML reports",
        description="Run notebooks through papermill (kernel python3) and write, per run, "
                    "OUT/RUN/NAME.ipynb (executed) and OUT/RUN/NAME.html (a page that needs "
                    "no network), plus OUT/index.html listing every run. RUN is the notebook's "
                    "NAME, then the parameters that differ from its defaults "
                    "(01_generate--num_frames=14,seed=3), so runs with other parameters sit "
                    "side by side. A notebook that declares `out_dir` writes its files into "
                    "OUT/RUN/. Exit status 1 when a notebook fails.")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                   help=f"notebooks to run (default: {DEFAULT_NOTEBOOKS})")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="set a parameter; applies to every notebook that declares it. Where "
                        "the default is a string VALUE stays text; otherwise True/False/None, "
                        "ints and floats are converted, as papermill's CLI does")
    p.add_argument("--params", metavar="FILE.yaml",
                   help="YAML mapping of parameters; -p wins over it")
    p.add_argument("--out", default="reports", help="report folder (default: reports)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svlab.face.reports import CommandLineText, read_params_file, run_reports

    notebooks = args.notebooks or sorted(glob.glob(DEFAULT_NOTEBOOKS))
    parameters = read_params_file(args.params) if args.params else {}
    parameters.update({name: CommandLineText(value) for name, value in args.parameter})
    log = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    runs = run_reports(notebooks, args.out, parameters, log=log)
    index = Path(args.out) / "index.html"
    failed = [r for r in runs if r.status != "ok"]
    if args.json:
        print_json({"index": str(index), "ok": not failed,
                    "runs": [vars(r) for r in runs]})
    else:
        for r in runs:
            print(f"{r.status:6} {r.seconds:7.1f} s  {Path(args.out) / r.html}")
        print(f"index: {index}")
    return 1 if failed else 0
