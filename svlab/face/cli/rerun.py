"""`svlab rerun`: a video made again from its manifest, and optionally checked.

Exit status with --check: 0 when the new frames are identical to the recorded video's, 1 when
they differ; 2 (without --check too) when the manifest cannot be honoured: its input image
missing or changed, its model at another revision.
"""

from __future__ import annotations

import argparse

from svlab.face.cli.common import add_json_flag, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rerun", help="make a video again from its manifest; --check compares",
        description="Regenerate a video from its manifest alone (X.json beside X.mp4): every "
                    "setting, the input image (found where the manifest says, or --image; its "
                    "content hash must match), the prompt, the engine and model. --check "
                    "compares the new frames with the recorded video. See docs/sweeps.md for "
                    "what to expect on a GPU.")
    p.add_argument("manifest", metavar="X.json", help="the manifest of the video to make again")
    p.add_argument("--out", default=None, metavar="Y.mp4",
                   help="where the new video goes (default: X.rerun.mp4; with --check and no "
                        "--out, it is not kept)")
    p.add_argument("--check", action="store_true",
                   help="compare with the recorded video: identical, max difference, PSNR")
    p.add_argument("--image", default=None, metavar="IMG",
                   help="the input image, when it is no longer where the manifest says")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from svlab.core.manifest import jsonable
    from svlab.work.rerun import rerun

    result = rerun(args.manifest, args.out, check=args.check, image=args.image)
    check = result.check
    if args.json:
        print_json(jsonable({"video": str(result.video) if result.video else None,
                             "check": {**asdict(check), "psnr": _db(check.psnr)} if check
                             else None, "notes": result.notes}))
    else:
        if result.video is not None:
            print(f"{result.video}: made again from {args.manifest}")
        if check is not None:
            verdict = "identical" if check.identical else "different"
            print(f"{verdict}: max difference {check.max_difference}, PSNR {_db(check.psnr)} dB,"
                  f" {check.frames} frames (recorded {check.recorded_frames})")
            if check.audio_identical is not None:
                print("sound: " + ("identical samples" if check.audio_identical else
                                   f"different (max difference {check.audio_max_difference})"))
        for note in result.notes:
            print(f"note: {note}")
    return 0 if check is None or check.identical else 1


def _db(psnr: float) -> str | float:
    return "inf" if psnr == float("inf") else round(psnr, 2)
