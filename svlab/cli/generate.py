"""`svlab generate`: an image or a prompt to a video, with its manifest beside it."""

from __future__ import annotations

import argparse

from .common import add_config_flags, add_json_flag, config_from_args, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a video from an image or a prompt",
                       description="Generate a video from a conditioning image or a prompt. "
                                   "The manifest is written beside it (X.mp4 -> X.json).")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="conditioning image (any format Pillow reads)")
    source.add_argument("--prompt", help="text: becomes a storyboard of scenes")
    p.add_argument("--caption", help="text recorded with --image (and used by the fallback)")
    p.add_argument("--out", required=True, help="output .mp4 path")
    add_config_flags(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    from ..service import generate

    result = generate(image=args.image, prompt=args.prompt or args.caption, config=config,
                      out=args.out)
    if args.json:
        print_json({"video": str(result.video_path), "manifest": result.manifest})
    else:
        m = result.manifest
        print(f"{result.video_path}: {m['output']['frames']} frames at {m['output']['fps']:g} fps "
              f"({m['engine']}{', ' + m['fallback_reason'] if m['fallback_reason'] else ''})")
    return 0
