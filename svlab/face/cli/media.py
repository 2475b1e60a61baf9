"""`svlab placeholder`, `svlab fallback`, `svlab concat`, `svlab probe`: the video processor and
the fallback engine from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from svlab.core.errors import InputError
from svlab.face.cli.common import add_config_flags, add_json_flag, config_from_args, print_json, publish_video


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("placeholder", help="draw a placeholder card (any script) to an image",
                       description="Draw a card of one colour with the text wrapped and centred "
                                   "on it. Chinese and other scripts render with the bundled "
                                   "Noto Sans CJK (see docs/processor.md).")
    p.add_argument("text", help="the text on the card")
    p.add_argument("--width", type=int, default=1024, help="pixels (default 1024)")
    p.add_argument("--height", type=int, default=576, help="pixels (default 576)")
    p.add_argument("--color", default="40,44,52", help="R,G,B, #rrggbb or a CSS name")
    p.add_argument("--text-color", help="default: black or white, whichever contrasts more")
    p.add_argument("--font-size", type=int, help="pixels (default: the largest that fits)")
    p.add_argument("--out", required=True, help="output image (.png, .jpg, .webp, ...)")
    add_json_flag(p)
    p.set_defaults(func=run_placeholder)

    p = sub.add_parser("fallback", help="make the fallback video (no model needed)",
                       description="The video a request gets when no model can run: the text "
                                   "on a colour card, or a slow camera move over --image. Size, "
                                   "length, fps and seed come from the settings. The manifest "
                                   "is written beside the video (X.mp4 -> X.json).")
    p.add_argument("--text", help="text on the card (ignored with --image)")
    p.add_argument("--image", help="image to film with a slow pan/zoom")
    p.add_argument("--color", help="card colour (default: chosen by --seed)")
    p.add_argument("--out", required=True, help="output .mp4 path")
    add_config_flags(p)
    add_json_flag(p)
    p.set_defaults(func=run_fallback)

    p = sub.add_parser("concat", help="join videos (stream copy when possible)",
                       description="Join clips in order. Clips that share codec, size, fps and "
                                   "pixel format are stream-copied (no re-encode); others are "
                                   "re-encoded to the first clip's size and fps.")
    p.add_argument("inputs", nargs="+", metavar="VIDEO", help="clips, in order")
    p.add_argument("--out", required=True, help="output .mp4 path")
    p.add_argument("--crossfade", type=float, default=0.0, metavar="SECONDS",
                   help="fade each clip into the next (re-encodes)")
    add_json_flag(p)
    p.set_defaults(func=run_concat)

    p = sub.add_parser("probe", help="codec, size, fps and frame count of a video",
                       description="Describe a video file: codec, pixel format, size, fps, "
                                   "exact frame count, duration, audio.")
    p.add_argument("video")
    add_json_flag(p)
    p.set_defaults(func=run_probe)


def run_placeholder(args: argparse.Namespace) -> int:
    from PIL import Image

    from svlab.core.files import atomic_output
    from svlab.media.ffmpeg import prepare_output
    from svlab.media.placeholder import find_font, placeholder_image

    suffixes = tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                            if fmt in Image.SAVE))
    if Path(args.out).suffix.lower() not in suffixes:
        raise InputError(f"output {args.out!r} must be an image file: .png, .jpg, .webp, ...")
    image = placeholder_image(args.text, args.width, args.height, color=args.color,
                              text_color=args.text_color, font_size=args.font_size)
    out = prepare_output(args.out)
    with atomic_output(out) as tmp:
        image.save(tmp, format=Image.registered_extensions()[out.suffix.lower()])
    if args.json:
        print_json({"path": str(out), "width": args.width, "height": args.height,
                    "font": str(find_font())})
    else:
        print(out)
    return 0


def run_fallback(args: argparse.Namespace) -> int:
    from svlab.media.fallback import fallback_frames
    from svlab.memory import StageTracker
    from svlab.media.outputs import video_output
    from svlab.media import write_video
    from svlab.media.images import read_image
    from svlab.core.records import ClipRecord

    config = config_from_args(args)
    image, described = read_image(args.image) if args.image else (None, None)
    tracker = StageTracker("cpu", release_heap=False)
    with tracker.stage("fallback"):
        frames = fallback_frames(width=config.width, height=config.height,
                                 num_frames=config.num_frames, fps=config.fps, seed=config.seed,
                                 text=args.text, image=image, color=args.color)
    out = video_output(args.out, inputs=[args.image] if args.image else [])
    p = config.processing

    def write(path: Path) -> None:
        with tracker.stage("encoding"):
            write_video(frames, path, config.fps, quality=p.quality,
                        pixel_format=p.pixel_format, lossless=p.lossless)

    seconds = sum(row.seconds for row in tracker.table().values())
    return publish_video(
        args, out, write, settings=config.to_dict(),
        record=ClipRecord(engine="fallback", fallback_reason="requested"),
        inputs={"text": args.text, "image": described, "color": args.color}, tracker=tracker,
        summary=f"{{out}}: {{frames}} frames {{width}}x{{height}} at {{fps:g}} fps "
                f"(fallback, {seconds:.2f} s before encoding)")


def run_concat(args: argparse.Namespace) -> int:
    from svlab.media.outputs import make_folder, video_output
    from svlab.media import concat_videos
    from svlab.media.ffmpeg import check_input_file

    for path in args.inputs:
        check_input_file(path)
    out = make_folder(video_output(args.out, inputs=args.inputs))
    result = concat_videos(args.inputs, out, crossfade=args.crossfade)
    if args.json:
        print_json(result)
    else:
        why = f" ({result['reason']})" if result["reason"] else ""
        print(f"{out}: {result['frames']} frames at {result['fps']:g} fps, "
              f"{result['method']}{why}")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    from svlab.media import probe

    info = probe(args.video)
    if args.json:
        print_json(info)
    else:
        audio = (f"audio {info['audio_codec']} {info['audio_sample_rate']} Hz "
                 f"{info['audio_channels']} ch" if info["has_audio"] else "no audio")
        print(f"{info['path']}: {info['codec']} {info['pixel_format']} "
              f"{info['width']}x{info['height']}, {info['frames']} frames at {info['fps']:g} fps, "
              f"{info['duration']:.3f} s, {audio}")
    return 0
