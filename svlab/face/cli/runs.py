"""`svlab runs`: the run index, every video svlab made, listed and filtered."""

from __future__ import annotations

import argparse
import sys

from svlab.face.cli.common import add_json_flag, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list the videos svlab made (the run index)",
                       description="List the run index: one row per video svlab made, oldest "
                                   "first, with its manifest, model, input, settings and "
                                   "status (missing once the video is deleted). The index is "
                                   "SVLAB_RUNS_INDEX (default ~/.local/share/svlab/"
                                   "runs.sqlite; off: none).")
    p.add_argument("--model", help="only runs of this model")
    p.add_argument("--since", metavar="DATE", help="only runs made at or after DATE (ISO date "
                                                   "or time, local unless a zone is given)")
    p.add_argument("--where", metavar="KEY=VALUE", action="append", default=[],
                   help="only runs whose setting KEY is VALUE (seed=3); repeatable")
    p.add_argument("--rebuild", metavar="DIR", help="first record every video under DIR that "
                                                    "has its manifest beside it")
    add_json_flag(p)
    p.set_defaults(func=run_runs)


def run_runs(args: argparse.Namespace) -> int:
    from svlab.core.run_index import find, parse_where, rebuild

    where = parse_where(args.where)
    if args.rebuild:
        count = rebuild(args.rebuild)
        print(f"recorded {count} videos from {args.rebuild}", file=sys.stderr)
    found = find(model=args.model, since=args.since, where=where)
    if args.json:
        print_json({"runs": [run.to_dict() for run in found]})
        return 0
    for run in found:
        seed = run.settings.get("seed")
        steps = run.settings.get("num_inference_steps")
        print(f"{run.created or '?':<25} {run.status:<7} {run.model or '?':<16} seed={seed} "
              f"steps={steps}  {run.video}")
    return 0
