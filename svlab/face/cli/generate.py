"""`svlab generate`: an image or a prompt to a video, with its manifest beside it."""

from __future__ import annotations

import argparse

from svlab.core.errors import InputError, require_file
from svlab.face.cli.common import add_config_flags, add_json_flag, add_ray_flags, config_from_args, print_json
from svlab.face.cli.story import scenes_on


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate a video from an image or a prompt",
                       description="Generate a video from a conditioning image, a prompt, or "
                                   "both (the prompt goes to models that take text, and onto a "
                                   "fallback card). A prompt alone becomes a storyboard of "
                                   "scenes. The manifest is written beside the video "
                                   "(X.mp4 -> X.json).")
    p.add_argument("--image", help="conditioning image (any format Pillow reads)")
    p.add_argument("--prompt", help="text: with --image, the model's prompt; alone, a "
                                    "storyboard of scenes")
    p.add_argument("--out", required=True, help="output .mp4 path")
    add_config_flags(p)
    add_ray_flags(p, what="scenes of a prompt's storyboard (in parallel; joined here)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.image is None and not args.prompt:
        raise InputError("nothing to generate from: give --image, --prompt or both")
    if args.image is not None and (args.ray is not None or args.workers is not None):
        raise InputError("--ray and --workers render a prompt's scenes in parallel: give "
                         "--prompt without --image (one clip from an image runs here)")
    config = config_from_args(args)
    if args.image is not None:
        require_file(args.image, "image file")
    from svlab.render.service import generate

    result = generate(image=args.image, prompt=args.prompt, config=config, out=args.out,
                      allow_fallback=args.allow_fallback, scenes_on=scenes_on(args))
    if args.json:
        print_json({"video": str(result.video_path), "manifest": result.manifest})
    else:
        m = result.manifest
        print(f"{result.video_path}: {m['output']['frames']} frames at {m['output']['fps']:g} fps "
              f"({m['engine']}{', ' + m['fallback_reason'] if m['fallback_reason'] else ''})")
    return 0
