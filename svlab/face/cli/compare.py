"""`svlab compare`: a sweep's runs, or any manifests' videos, side by side in one video, and a
contact sheet."""

from __future__ import annotations

import argparse

from svlab.face.cli.common import add_json_flag, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="runs side by side: a sweep's, or any manifests' (grid video + "
                        "contact sheet)",
        description="Put the finished runs of a sweep folder, or the videos of any manifests "
                    "(A.json B.json ...), side by side: one MP4 with a "
                    "labelled tile per run (ffmpeg xstack; synchronised, the shorter ones "
                    "holding their last frame) and a contact sheet PNG (a row per run, a "
                    "column per sampled frame).")
    p.add_argument("sweep", metavar="DIR|MANIFEST", nargs="+",
                   help="a sweep's folder (with results.csv), or manifests X.json (X.mp4 names "
                        "its manifest)")
    p.add_argument("--by", nargs="+", default=None, metavar="SETTING",
                   help="label and order the tiles by these settings (default: the varied "
                        "ones); with two or more, a column per value of the last")
    p.add_argument("--where", action="append", default=[], metavar="SETTING=VALUE",
                   help="only the runs with this value (repeatable)")
    p.add_argument("--out", default=None, metavar="GRID.mp4",
                   help="the grid video (default: compare.mp4 in DIR or beside the "
                        "first manifest)")
    p.add_argument("--sheet", default=None, metavar="SHEET.png",
                   help="the contact sheet (default: the grid's path with .png)")
    p.add_argument("--columns", type=int, default=None, help="tiles per row")
    p.add_argument("--tile-width", type=int, default=None,
                   help="tile width in pixels (default: the widest run, at least 192)")
    p.add_argument("--frames", type=int, default=8, help="frames per row of the contact sheet")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svlab.work.sweep.compare import compare

    result = compare(args.sweep, args.out, by=args.by, where=args.where, sheet=args.sheet,
                     columns=args.columns, tile_width=args.tile_width, frames=args.frames)
    if args.json:
        print_json({"video": str(result.video), "sheet": str(result.sheet), "keys": result.keys,
                    "labels": result.labels, "layout": result.layout})
    else:
        layout = result.layout
        print(f"{result.video}: {len(result.keys)} runs in {layout['columns']}x{layout['rows']} "
              f"tiles, {layout['width']}x{layout['height']}, {layout['frames']} frames at "
              f"{layout['fps']:g} fps")
        print(f"{result.sheet}: contact sheet")
    return 0
