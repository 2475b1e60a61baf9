"""`svlab interpolate`: more frames per second for a video, by a chosen method."""

from __future__ import annotations

import argparse
from pathlib import Path

from svlab.core.errors import InputError
from svlab.face.cli.common import add_json_flag, publish_video

METHOD_CHOICES = "repeat, blend, flow (default), minterpolate, rife"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interpolate", help="interpolate a video to more frames per second",
                       description="Add frames between the frames of a video. The input frames "
                                   "are kept unchanged; --factor N puts N-1 new frames in each "
                                   "interval, --fps F resamples to F frames per second. The "
                                   "manifest is written beside the video (X.mp4 -> X.json). "
                                   "See docs/interpolation.md for which method to use.")
    p.add_argument("video", help="input video")
    rate = p.add_mutually_exclusive_group(required=True)
    rate.add_argument("--factor", type=int, help="output frames per input interval (2, 3, 4, ...)")
    rate.add_argument("--fps", type=float, help="output frame rate (any ratio to the input's)")
    p.add_argument("--method", default="flow", help=METHOD_CHOICES)
    p.add_argument("--out", required=True, help="output .mp4 path")
    p.add_argument("--quality", type=int, default=18, help="x264 CRF (0 lossless .. 51)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svlab.memory import StageTracker
    from svlab.media.outputs import video_output
    from svlab.media import read_video, write_video
    from svlab.media.interpolate import check_method, iter_interpolate, output_count, rate_ratio
    from svlab.core.records import ClipRecord

    method = check_method(args.method)
    rate_ratio(args.factor, 1.0, args.fps)  # checks the factor or fps before any work
    if not 0 <= args.quality <= 51:
        raise InputError(f"quality must be an x264 CRF from 0 to 51, got {args.quality}")
    out = video_output(args.out, inputs=[args.video])
    frames, fps = read_video(args.video)
    if len(frames) < 2:
        raise InputError(f"{args.video!r} has {len(frames)} frame; interpolation needs at least 2")
    ratio = rate_ratio(args.factor, fps, args.fps)
    out_fps = args.fps if args.fps is not None else fps * args.factor
    tracker = StageTracker("cpu", release_heap=False)

    expected = output_count(len(frames), ratio)
    audio = _sound(args.video, expected, out_fps)

    def write(path: Path) -> None:
        with tracker.stage("interpolation"):
            stream = iter_interpolate(frames, args.factor, method, source_fps=fps,
                                      target_fps=args.fps)
            write_video(stream, path, out_fps, quality=args.quality, audio=audio)

    settings = {"interpolation": method, "interpolation_factor": args.factor,
                "target_fps": args.fps, "quality": args.quality}
    return publish_video(
        args, out, write, settings=settings, record=ClipRecord(engine="interpolate"),
        inputs={"video": str(args.video), "frames": len(frames), "fps": fps}, tracker=tracker,
        summary=f"{{out}}: {len(frames)} -> {{frames}} frames ({expected} expected), "
                f"{fps:g} -> {{fps:g}} fps ({method})")


def _sound(video, frames: int, fps: float):
    """The input's sound track, decoded and fitted to the interpolated video's length (frame i
    stays at i / fps, so the sound stays in sync); None when it has none."""
    from svlab.media import probe
    from svlab.media.video_io import fit_audio, read_audio
    from svlab.core.records import Audio

    if not probe(video)["has_audio"]:
        return None
    samples, rate = read_audio(video)
    return fit_audio(Audio(samples=samples, sample_rate=rate), frames, fps)
