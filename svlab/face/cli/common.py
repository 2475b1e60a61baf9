"""Flags and output shared by subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# CLI flag -> setting name. Flags keep the short names people type; settings keep the
# reference configuration's names. Every flag defaults to None: "leave the profile's value".
SETTING_FLAGS: list[tuple[str, str, type, str]] = [
    ("--model", "model", str, "registry id, local folder or hub id"),
    ("--seed", "seed", int, "random seed"),
    ("--steps", "num_inference_steps", int, "denoising steps"),
    ("--height", "height", int, "frame height (multiple of 8)"),
    ("--width", "width", int, "frame width (multiple of 8)"),
    ("--frames", "num_frames", int, "number of generated frames"),
    ("--fps", "fps", int, "frames per second of the clip"),
    ("--decode-chunk", "decode_chunk_size", int, "frames decoded at once by the VAE"),
    ("--gpus", "gpus", int, "processes (one per GPU; gloo on a CPU) that make one video "
                            "together, with context parallelism (Wan)"),
    ("--motion-bucket", "motion_bucket_id", int, "amount of motion (0-1023)"),
    ("--noise-aug", "noise_aug_strength", float, "noise added to the conditioning image"),
    ("--min-guidance", "min_guidance_scale", float, "guidance at the first frame"),
    ("--max-guidance", "max_guidance_scale", float, "guidance at the last frame"),
    ("--guidance", "guidance_scale", float, "guidance of text-conditioned models (LTX-Video, "
                                            "Wan, CogVideoX); default: the model's"),
    ("--guidance-2", "guidance_scale_2", float, "guidance of Wan2.2 A14B's low-noise expert"),
    ("--negative-prompt", "negative_prompt", str, "what text-conditioned models steer away "
                                                  "from"),
    ("--dtype", "dtype", str, "auto, fp16, bf16 or fp32"),
    ("--attention", "attention", str, "auto, sdpa or xformers"),
    ("--offload", "offload", str, "none, model, block, leaf or sequential"),
    ("--device", "device", str, "auto, cpu or cuda"),
    ("--cache", "cache", str, "step caching: first_block, taylorseer or pyramid_attention "
                              "(transformer families; docs/speed.md)"),
    ("--cache-threshold", "cache_threshold", float, "the cache method's parameter (first_block: "
                                                    "threshold; taylorseer: interval; "
                                                    "pyramid_attention: skip range)"),
    ("--interpolation", "interpolation", str, "frame interpolation method"),
    ("--interpolation-factor", "interpolation_factor", int, "frames per input interval"),
    ("--target-fps", "target_fps", float, "interpolate to this frame rate"),
    ("--quality", "quality", int, "x264 CRF (0 lossless .. 51)"),
]
BOOL_FLAGS: list[tuple[str, str, str]] = [
    ("--fp16", "use_fp16", "half precision where the device supports it"),
    ("--forward-chunking", "forward_chunking", "chunk the UNet's feed-forward layers"),
    ("--compile", "compile", "torch.compile the UNet"),
    ("--layerwise-casting", "layerwise_casting", "store the denoiser's weights in fp8"),
    ("--vae-tiling", "vae_tiling", "decode the video in overlapping tiles"),
    ("--vae-slicing", "vae_slicing", "one video of a batch through the VAE at a time"),
    ("--free-text-encoder", "free_text_encoder", "move the text encoder off the device once "
                                                 "the prompt is encoded"),
    ("--lossless", "lossless", "lossless x264 (qp 0, yuv444p)"),
]


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (override the profile)")
    group.add_argument("--profile", default=None,
                       help="standard, low-vram, cpu-tiny or auto (fits the GPU)")
    group.add_argument("--allow-fallback", action="store_true",
                       help="answer with the fallback engine when the named --model cannot "
                            "load (default: that is an error; model=auto always may fall back)")
    group.add_argument("--config", metavar="FILE", help="YAML/JSON file of settings")
    for flag, dest, type_, help_ in SETTING_FLAGS:
        group.add_argument(flag, dest=dest, type=type_, default=None, help=help_)
    for flag, dest, help_ in BOOL_FLAGS:
        group.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                           help=help_)


def setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, by setting name."""
    names = [dest for _, dest, _, _ in SETTING_FLAGS] + [dest for _, dest, _ in BOOL_FLAGS]
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def config_from_args(args: argparse.Namespace):
    """The validated config: profile < --config file < flags; refused at once when its frames
    alone would not fit in this machine's memory."""
    from svlab.run.settings import check_host_memory, load_config

    config = load_config(args.profile, setting_flags(args), file=args.config)
    check_host_memory(config)
    return config


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def publish_video(args: argparse.Namespace, out, write, *, settings: dict[str, Any],
                  record, inputs: dict[str, Any], tracker, summary: str) -> int:
    """Write a command's video with `write(path)` and publish it with its manifest (the video
    and the manifest appear together or not at all), then report: one JSON object with
    --json, else `summary`, which may name the video's facts (`{frames}`, `{fps:g}`, ...)."""
    from svlab.core.manifest import build_manifest, manifest_path, output_facts
    from svlab.media.outputs import Publication
    from svlab.media import probe

    with Publication(out) as pub:
        write(pub.video)
        facts = probe(pub.video)
        output = {**output_facts(out, frames=facts["frames"], fps=facts["fps"],
                                 width=facts["width"], height=facts["height"]),
                  "codec": facts["codec"], "pixel_format": facts["pixel_format"]}
        pub.manifest = build_manifest(settings, record, inputs=inputs, output=output,
                                      stages=tracker.table())
    if args.json:
        print_json({"video": str(out), "manifest_path": str(manifest_path(out)),
                    "manifest": pub.manifest})
    else:
        print(summary.format(out=out, **{**facts, "path": str(out)}))
    return 0


def add_ray_flags(parser: argparse.ArgumentParser, *, what: str) -> None:
    """`--ray [ADDRESS]` and `--workers N`: make the command's `what` on a Ray cluster."""
    group = parser.add_argument_group("on a Ray cluster (pip install 'svlab[ray]'; "
                                      "docs/distributed.md)")
    group.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help=f"make the {what} on Ray: without ADDRESS start Ray on this "
                            "machine; 'auto' joins the cluster started here with `ray start`; "
                            "HOST:PORT or ray://HOST:10001 joins a remote one")
    group.add_argument("--workers", type=int, default=None, metavar="N",
                       help="at most N Ray workers (default: one per GPU, else one per node); "
                            "without --ray, Ray is started on this machine")


def pool_settings(args: argparse.Namespace):
    """The Ray workers' settings the flags ask for, or None to run here without Ray."""
    from svlab.work.distributed import PoolSettings, require_ray
    from svlab.core.errors import InputError

    if args.ray is None and args.workers is None:
        return None
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.ray is None:
        args.ray = "local"
    require_ray()  # before anything starts: one clear line when Ray is not installed
    return PoolSettings(workers=args.workers)
