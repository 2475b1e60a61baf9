"""`svlab plan`: predicted peak memory per stage, and the fastest setting under a budget."""

from __future__ import annotations

import argparse

from svlab.face.cli.common import add_json_flag, print_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plan", help="predict peak memory per stage; recommend settings for a VRAM budget",
        description="Predict the peak memory of each stage of a generation from the model's "
                    "full-size architecture (meta tensors: no GPU, no weights needed), text "
                    "encoders included. With --vram, recommend the fastest memory setting "
                    "(offload, decode chunks, VAE tiling, layerwise casting, freeing the text "
                    "encoder: those the model takes) whose predicted peak fits. Traces are kept "
                    "in SVLAB_PLAN_CACHE (default ~/.cache/svlab/plans; 'off': none), so a plan "
                    "asked again answers without importing torch or diffusers.")
    p.add_argument("--model", default="svd-xt", help="registry id (default svd-xt)")
    p.add_argument("--height", type=int, default=None, help="frame height (model's default)")
    p.add_argument("--width", type=int, default=None, help="frame width (model's default)")
    p.add_argument("--frames", dest="num_frames", type=int, default=None,
                   help="number of frames (model's default)")
    p.add_argument("--dtype", default=None,
                   help="fp16, bf16 or fp32 (default: the model's, bf16 for transformers)")
    p.add_argument("--offload", default="none", help="none, model, block, leaf or sequential")
    p.add_argument("--decode-chunk", dest="decode_chunk_size", type=int, default=None,
                   help="frames decoded per VAE call (default: all at once)")
    p.add_argument("--forward-chunking", action=argparse.BooleanOptionalAction, default=False,
                   help="chunk the UNet's feed-forward layers")
    p.add_argument("--max-guidance", dest="max_guidance_scale", type=float, default=3.0,
                   help="above 1 the UNet runs at batch 2 (classifier-free guidance)")
    p.add_argument("--guidance", dest="guidance_scale", type=float, default=None,
                   help="text-conditioned models: above 1 the transformer runs on the prompt "
                        "and the negative prompt (default: the model's)")
    for flag, help_ in (("--layerwise-casting", "the denoiser's weights stored in fp8"),
                        ("--vae-tiling", "the VAE in overlapping tiles"),
                        ("--free-text-encoder", "the text encoder off the device after the "
                                                "prompt")):
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=False, help=help_)
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    p.add_argument("--vram", default=None, metavar="SIZE",
                   help="recommend the fastest setting that fits, e.g. 8GiB, 12GB, 6000MiB")
    p.add_argument("--headroom", type=float, default=0.1,
                   help="share of --vram kept free for what is not predicted (default 0.1)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from svlab.memory import parse_bytes, plan_memory, recommend
    from svlab.models import get_spec

    if args.vram is None:
        plan = plan_memory(
            args.model, height=args.height, width=args.width, num_frames=args.num_frames,
            dtype=args.dtype or get_spec(args.model).dtype, offload=args.offload,
            decode_chunk_size=args.decode_chunk_size, forward_chunking=args.forward_chunking,
            max_guidance_scale=args.max_guidance_scale, device=args.device,
            guidance_scale=args.guidance_scale, layerwise_casting=args.layerwise_casting,
            vae_tiling=args.vae_tiling, free_text_encoder=args.free_text_encoder)
        print_json(plan) if args.json else print(format_plan(plan))
        return 0
    vram = parse_bytes(args.vram)  # a bad size fails before any model is built
    rec = recommend(args.model, args.height, args.width, args.num_frames, vram, args.dtype,
                    max_guidance_scale=args.max_guidance_scale,
                    guidance_scale=args.guidance_scale, headroom=args.headroom)
    if args.json:
        out = dict(rec["plan"])
        out["recommendation"] = {k: v for k, v in rec.items() if k != "plan"}
        print_json(out)
    else:
        print(format_plan(rec["plan"]))
        print()
        print(format_recommendation(rec))
    return 0


def format_plan(plan: dict) -> str:
    s = plan["settings"]
    chunk = s["decode_chunk_size"]
    lines = [
        f"{plan['model']}: {s['height']}x{s['width']}, {s['num_frames']} frames, {s['dtype']}, "
        f"offload {s['offload']}, decode chunk {chunk}"
        + "".join(f", {name.replace('_', ' ')}" for name in (
            "forward_chunking", "layerwise_casting", "vae_tiling", "free_text_encoder")
            if s[name]) + f", on {s['device']}",
        f"{'stage':<16}{'peak GiB':>10}{'weights':>10}{'other':>10}",
    ]
    for name, row in plan["stages"].items():
        lines.append(f"{name:<16}{_gib(row['peak_bytes']):>10}{_gib(row['weights_bytes']):>10}"
                     f"{_gib(row['activation_bytes']):>10}")
    lines.append(f"{'peak':<16}{_gib(plan['peak_bytes']):>10}  ({plan['peak_stage']})")
    params = ", ".join(f"{c} {n / 1e6:,.1f}M" for c, n in plan["params"].items())
    lines.append(f"parameters: {params}")
    return "\n".join(lines)


def format_recommendation(rec: dict) -> str:
    o = rec["overrides"]
    lines = [
        f"recommended for {_gib(rec['vram_bytes'])} GiB (budget {_gib(rec['budget_bytes'])} "
        f"GiB after {rec['headroom']:.0%} headroom): "
        + " ".join(f"{k}={v}" for k, v in o.items()),
        "why (fastest first):",
    ]
    lines += [f"  {line}" for line in rec["reasoning"]]
    return "\n".join(lines)


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f}"
