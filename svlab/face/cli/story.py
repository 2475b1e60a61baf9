"""`svlab story`: a storyboard file (YAML/JSON) to one video, captions and manifest beside it."""

from __future__ import annotations

import argparse
import dataclasses

from svlab.face.cli.common import (
    add_config_flags, add_json_flag, add_ray_flags, pool_settings, print_json, setting_flags,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("story", help="render a storyboard (YAML/JSON) into one video",
                       description="Render a storyboard: one clip per scene, joined, with "
                                   "captions (X.vtt, X.srt) and the manifest (X.json) beside "
                                   "the video. See docs/storyboards.md.")
    p.add_argument("storyboard", help="storyboard file (.yaml, .yml or .json)")
    p.add_argument("--out", required=True, help="output .mp4 path")
    p.add_argument("--subtitles", choices=("off", "on", "burn"),
                   help="captions: none, sidecars, or sidecars and burned in (default: the "
                        "storyboard's, else on)")
    p.add_argument("--music", help="audio file under the whole video (replaces the "
                                   "storyboard's)")
    p.add_argument("--text2image", metavar="MODEL",
                   help="local diffusers text-to-image folder for scenes without an image "
                        "(default: $SVLAB_TEXT2IMAGE; else placeholder cards)")
    add_config_flags(p)
    add_ray_flags(p, what="scenes' clips (in parallel; joined here)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from svlab.core.config import read_config_file
    from svlab.core.errors import require_file
    from svlab.models import TextToImage
    from svlab.run.settings import check_host_memory
    from svlab.render.storyboards import load_storyboard, render_storyboard

    board = load_storyboard(args.storyboard)
    from_file = read_config_file(args.config) if args.config else {}
    # profile < storyboard settings < --config file < flags
    config = board.config(args.profile or from_file.get("profile"), from_file,
                          setting_flags(args))
    check_host_memory(config)
    changes = {}
    if args.subtitles:
        changes["subtitles"] = args.subtitles
    if args.music:
        changes["music"] = require_file(args.music, "music file").resolve()
    board = dataclasses.replace(board, **changes)
    text2image = TextToImage(args.text2image, device=config.device) if args.text2image else None
    result = render_storyboard(board, config, args.out, text2image=text2image,
                               allow_fallback=args.allow_fallback, scenes_on=scenes_on(args))
    m = result.manifest
    if args.json:
        print_json({"video": str(result.video_path), "captions": m["captions"],
                    "manifest": m})
    else:
        print(f"{result.video_path}: {len(board.scenes)} scenes, {m['output']['frames']} frames "
              f"at {m['output']['fps']:g} fps, {m['output']['duration']:g} s ({m['engine']})")
    return 0


def scenes_on(args: argparse.Namespace):
    """Where the scenes' clips are made: None (here), or on Ray as --ray/--workers ask."""
    settings = pool_settings(args)
    if settings is None:
        return None
    from svlab.work.distributed.ray_scenes import RayScenes

    return RayScenes(address=args.ray, settings=settings)
