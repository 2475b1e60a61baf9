"""`svlab speed`: the acceleration study of one model on one image (docs/speed.md)."""

from __future__ import annotations

import argparse

from svlab.core.errors import InputError, require_file
from svlab.face.cli.common import add_config_flags, add_json_flag, config_from_args, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("speed", help="time each step-caching method against the baseline",
                       description="Run MODEL on IMAGE without step caching, then with each "
                                   "method its family takes (or --methods), on the same seed; "
                                   "report denoising time, speed-up, the transformer blocks' "
                                   "work and PSNR against the baseline.")
    p.add_argument("study_model", metavar="MODEL",
                   help="registry id (the tiny ones run on a CPU in seconds)")
    p.add_argument("--image", required=True, help="conditioning image")
    p.add_argument("--prompt", default=None, help="prompt of text-conditioned models")
    p.add_argument("--methods", nargs="+", metavar="METHOD[:PARAMETER]", default=None,
                   help="methods to time, each with its parameter (taylorseer:2); default: "
                        "every method the family takes, at its default")
    p.add_argument("--repeats", type=int, default=1, metavar="N",
                   help="time each run N times and keep the fastest (default 1)")
    add_config_flags(p)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.cache is not None or args.cache_threshold is not None:
        raise InputError("svlab speed runs each method itself: give --methods, not --cache")
    if args.model is not None:
        raise InputError("give the model once, as MODEL, not also as --model")
    args.model = args.study_model
    if not 1 <= args.repeats <= 100:
        raise InputError(f"--repeats {args.repeats} is out of range; accepted: 1 to 100")
    config = config_from_args(args)
    methods = _methods(args.methods, config)
    require_file(args.image, "image file")
    from svlab.media.images import fit_image, read_image
    from svlab.render.eval.speed_study import speed_study

    image = fit_image(read_image(args.image)[0], config.width, config.height)
    runs = speed_study(config, image, args.prompt, methods=methods, repeats=args.repeats)
    if args.json:
        print_json({"model": config.model, "seed": config.seed,
                    "steps": config.num_inference_steps, "repeats": args.repeats,
                    "runs": [{**r.to_dict(), "psnr": _db(r.psnr)} for r in runs]})
        return 0
    print(f"{config.model}, seed {config.seed}, {config.num_inference_steps} steps")
    for r in runs:
        name = "baseline" if r.method is None else f"{r.method}:{r.threshold:g}"
        print(f"{name:24} {r.seconds:8.3f} s  x{r.speedup:5.2f}  block work "
              f"{r.work_fraction:6.1%}  PSNR {_db(r.psnr)} dB")
    return 0


def _methods(given: list[str] | None, config) -> list[tuple[str, float | None]] | None:
    """(method, parameter) pairs, each checked as a run's config (a method the family cannot
    take, a parameter out of range: one line, before anything runs)."""
    if given is None:
        return None
    from svlab.run.settings import load_config

    pairs = []
    for item in given:
        method, _, value = item.partition(":")
        try:
            threshold = float(value) if value else None
        except ValueError:
            raise InputError(f"--methods {item}: the parameter after ':' must be a number"
                             ) from None
        load_config(config, {"cache": method, "cache_threshold": threshold})
        pairs.append((method, threshold))
    return pairs


def _db(psnr: float) -> str | float:
    return "inf" if psnr == float("inf") else round(psnr, 2)
