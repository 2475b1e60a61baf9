"""Full-size SVD-XT and LTX-Video on a CUDA machine: seconds and peak VRAM per loading option.

Claims measured: what a 25-frame 1024x576 clip costs with svlab's loader under the `standard`
and `low-vram` profile settings (the clip size held at 25x576x1024 for both, so only the
memory settings differ: model offload, decode chunk 2, forward chunking), PyTorch SDPA against
xFormers when xFormers is installed, and with `torch.compile` of the UNet; then LTX-Video
(2B, with its T5 text encoder) at its own default size (121 frames of 512x704), bf16; then
HunyuanVideo 1.5 I2V 480p (8.3B, with Qwen2.5-VL's 7B text model, ByT5 and SigLIP) at its
default size (121 frames of 480x848), bf16, VAE tiling. Alone:
`benchmarks/gpu_check.sh --runs hunyuanvideo-1.5-480p`.

No download: each architecture is built from the registry with random weights (fp16 for
SVD-XT, bf16 for LTX-Video) and written once as an ordinary diffusers folder, which
`VideoModelLoader` then loads like any checkpoint. Speed and memory do not depend on the
weights' values (the frames do, and are not looked at beyond counting NaNs).

Each run is a process of its own (a fresh CUDA context, so no memory or compiled graph of an
earlier run is counted, and a run that outlasts the remaining time budget is stopped and
recorded as such instead of overrunning): load (timed), a short warm-up (kernel selection, and
compilation with `torch.compile`), then `--repeats` timed generations, run as the service runs
them (`svlab.run.stages`): image encoding, denoising and decoding are separate stages, each
with its own peak `torch.cuda.max_memory_allocated` (reset when the stage starts). Step times
come from the step callback, synchronised. After `unload()`, the memory still allocated is
recorded: it shows whether unloading really freed the weights.

Run on the GPU machine:  benchmarks/gpu_check.sh      (under 8 minutes on an H200)
Check the script on a CPU: benchmarks/gpu_check.sh --dry-run   (tiny model, seconds)
Writes benchmarks/results/gpu_check.json (and $OUT/gpu_check.json when OUT is set).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout too

from svlab.run.settings import load_config  # noqa: E402
from svlab.memory import StageTracker  # noqa: E402
from svlab.models import (  # noqa: E402
    VideoModelLoader, build_pipeline, get_spec, write_tiny_model, xformers_available,
)
from svlab.run.stages import decode, denoise  # noqa: E402

RESULT = Path(__file__).with_name("results") / "gpu_check.json"
WORK = Path(__file__).with_name("work")
CLIP = dict(height=576, width=1024, num_frames=25)
DRY_CLIP = dict(height=64, width=64, num_frames=4)
PROMPT = "a calm sea under a cloudy sky, the camera moving slowly"  # for the models taking one
# name -> (model, profile, overrides): the model and loading options each run measures, in the
# order they run (the time budget stops the last ones first).
RUNS = {
    "standard-sdpa": ("svd-xt", "standard", dict(attention="sdpa")),
    "low-vram-sdpa": ("svd-xt", "low-vram", dict(attention="sdpa")),
    "ltx-video-standard": ("ltx-video", "standard", dict(attention="sdpa", dtype="bf16")),
    # 8.3B transformer and Qwen2.5-VL's 7B text model in bf16 (about 34 GB of weights) at the
    # model's 121 frames of 480x848: the planner's fastest fit on a card of 48 GiB or more is
    # everything resident with VAE tiling (predicted peak 45.8 GiB)
    "hunyuanvideo-1.5-480p": ("hunyuanvideo-1.5-i2v-480p", "standard",
                              dict(attention="sdpa", dtype="bf16", vae_tiling=True)),
    "standard-xformers": ("svd-xt", "standard", dict(attention="xformers")),
    "standard-sdpa-compile": ("svd-xt", "standard", dict(attention="sdpa", compile=True)),
}
# model -> its tiny stand-in for a dry run on the CPU
TINY = {"svd-xt": "tiny", "ltx-video": "tiny-ltx",
        "hunyuanvideo-1.5-i2v-480p": "tiny-hunyuanvideo15"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="check the script on the CPU with the tiny model")
    parser.add_argument("--steps", type=int, help="denoising steps (default 25; dry run 2)")
    parser.add_argument("--repeats", type=int, default=1, help="timed generations per run")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS),
                        help="which runs (default: all; a dry run skips compile)")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="stop runs still going after this many seconds in all")
    parser.add_argument("--out", type=Path, help="result JSON path")
    parser.add_argument("--one", choices=list(RUNS), help=argparse.SUPPRESS)  # a child run
    parser.add_argument("--model-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.one:
        return run_one(args)

    if args.dry_run:
        device, clip, steps = "cpu", DRY_CLIP, args.steps or 2
        runs = args.runs or [r for r in RUNS if "compile" not in r]
        out = args.out or WORK / "gpu_check_dry_run.json"
    else:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device here, nothing measured "
                  "(use --dry-run to check the script on a CPU)")
            return 0
        device, clip, steps = "cuda", CLIP, args.steps or 25
        runs = args.runs or list(RUNS)
        out = args.out or RESULT

    WORK.mkdir(exist_ok=True)
    prepare_seconds: dict[str, float] = {}
    folders: dict[str, Path] = {}
    results: dict[str, dict] = {}
    for name in runs:
        model = RUNS[name][0]
        if model not in folders:  # written when first needed, inside the time budget
            start = time.perf_counter()
            folders[model] = write_tiny_model(WORK / TINY[model], TINY[model]) \
                if args.dry_run else write_random_model(model, WORK / f"{model}-random")
            prepare_seconds[model] = round(time.perf_counter() - start, 1)
            print(f"model folder {folders[model]} ready in {prepare_seconds[model]}s",
                  flush=True)
        if RUNS[name][2].get("attention") == "xformers" and not (device == "cuda"
                                                                and xformers_available()):
            results[name] = {"skipped": "xformers is not installed (or not usable) here"}
            continue
        left = args.budget_s - (time.perf_counter() - started)
        if left < 30:
            results[name] = {"skipped": f"time budget of {args.budget_s:.0f}s spent"}
            continue
        command = [sys.executable, __file__, "--one", name,
                   "--model-folder", str(folders[model]),
                   "--steps", str(steps), "--repeats", str(args.repeats)]
        command += ["--dry-run"] if args.dry_run else []
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=left)
        except subprocess.TimeoutExpired:
            results[name] = {"error": f"stopped after {left:.0f}s: the time budget ran out"}
        else:
            last = done.stdout.strip().splitlines()[-1:] or [""]
            if done.returncode == 0 and last[0].startswith("{"):
                results[name] = json.loads(last[0])
            else:
                results[name] = {"error": f"exit {done.returncode}: "
                                          + "\n".join(done.stderr.strip().splitlines()[-5:])}
        print(f"{name}: {json.dumps(summary(results[name]))}", flush=True)

    report = {
        "claim": "seconds and peak VRAM of a 25-frame 1024x576 SVD-XT clip (random fp16 "
                 "weights) per loading option, and of LTX-Video and HunyuanVideo 1.5 I2V 480p "
                 "at their default sizes (bf16)",
        "dry_run": args.dry_run,
        "clip": clip, "steps": steps, "repeats": args.repeats,
        "prepare_seconds": prepare_seconds,
        "environment": environment(device),
        "runs": results,
        "comparisons": comparisons(results),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write(report, out)
    return 0


def write_random_model(model: str, folder: Path) -> Path:
    """`model`'s full architecture with random weights in its preferred dtype (fp16 for SVD,
    bf16 for the transformer families), saved as a diffusers folder."""
    if (folder / "model_index.json").is_file():
        return folder
    spec = get_spec(model)
    dtype = torch.bfloat16 if spec.dtype == "bf16" else torch.float16
    pipe = build_pipeline(spec, dtype=dtype, device="cuda")
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    torch.cuda.empty_cache()
    return folder


def run_one(args) -> int:
    """One run, in this (child) process; its result is the last line of stdout, as JSON."""
    device = "cpu" if args.dry_run else "cuda"
    model, profile, overrides = RUNS[args.one]
    if model == "svd-xt":
        clip = DRY_CLIP if args.dry_run else CLIP
    else:  # the model's own default size
        spec = get_spec(TINY[model] if args.dry_run else model)
        clip = dict(height=spec.height, width=spec.width, num_frames=spec.num_frames,
                    fps=spec.fps)
    config = load_config(profile, overrides=dict(
        overrides, **clip, model=str(args.model_folder), num_inference_steps=args.steps,
        device=device, **({"dtype": "fp32"} if args.dry_run else {})))
    print(f"{args.one}: {profile} settings, {config_summary(config)}", file=sys.stderr)
    image = test_image(clip["width"], clip["height"])
    try:
        result = measure(config, image, repeats=args.repeats, device=device)
    except torch.OutOfMemoryError as e:
        result = {"error": f"out of memory: {str(e).splitlines()[0]}"}
    print(json.dumps(result, default=str))
    return 0


def measure(config, image: Image.Image, *, repeats: int, device: str) -> dict:
    loader = VideoModelLoader(config)
    start = time.perf_counter()
    loader.load()
    load_seconds = time.perf_counter() - start
    warm = generate(loader, image, config, steps=2, device=device)  # kernels, compilation
    timed = [generate(loader, image, config, steps=config.num_inference_steps, device=device)
             for _ in range(repeats)]
    loader.unload()
    info = dataclasses.asdict(loader.info)
    after_unload = torch.cuda.memory_allocated() if device == "cuda" else None

    def median(key):
        return round(statistics.median(t[key] for t in timed), 3)

    peaks = {stage: max(t["stages"][stage].peak_bytes or 0 for t in timed)
             for stage in loader.family.stages}
    return {
        "settings": {k: getattr(config, k) for k in (
            "num_inference_steps", "decode_chunk_size", "offload", "forward_chunking",
            "attention", "compile", "dtype", "use_fp16")},
        "load_seconds": round(load_seconds, 2),
        "warmup_seconds": round(warm["seconds"], 2),
        "seconds": median("seconds"),
        "encoding_seconds": median("encoding_seconds"),
        "denoising_seconds": median("denoising_seconds"),
        "step_seconds": median("step_seconds"),
        "decoding_seconds": median("decoding_seconds"),
        "peak_bytes": max(peaks.values()) if device == "cuda" else None,
        "peak_gib": round(max(peaks.values()) / 2**30, 2) if device == "cuda" else None,
        "stage_peak_bytes": peaks if device == "cuda" else None,
        "nan_frames": sum(t["nan_frames"] for t in timed),
        "repeats": [round(t["seconds"], 3) for t in timed],
        "loader_info": info,
        "allocated_after_unload_bytes": after_unload,
    }


def generate(loader, image, config, *, steps: int, device: str) -> dict:
    """One clip as svlab's service runs it (`svlab.run.stages`): the pipeline call to latents
    (image encoding, then denoising), then decoding."""
    config = config.replace(num_inference_steps=steps)
    tracker = StageTracker(device)
    stamps: list[float] = []

    def on_step(event):
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    start = time.perf_counter()
    latents = denoise(loader.pipeline, loader.family, image, PROMPT, config, tracker=tracker,
                      callback=on_step)
    with tracker.stage("decoding"):
        frames = decode(loader.pipeline, loader.family, latents,
                        config.decode_chunk_size or config.num_frames)
    seconds = time.perf_counter() - start
    table = tracker.table()
    steps_taken = np.diff(stamps) if len(stamps) > 1 else np.array([float("nan")])
    return {
        "seconds": seconds,
        "encoding_seconds": table[loader.family.stages[0]].seconds,
        "denoising_seconds": table["denoising"].seconds,
        "decoding_seconds": table["decoding"].seconds,
        "step_seconds": float(np.median(steps_taken)),
        "stages": table,
        "nan_frames": int(np.isnan(frames).any(axis=(2, 3, 4)).sum()),
    }


def comparisons(results: dict[str, dict]) -> dict:
    """Ratios against the standard SDPA run, for the runs of the same model that finished."""
    base = results.get("standard-sdpa", {})
    out = {}
    for name, run in results.items():
        if name == "standard-sdpa" or RUNS[name][0] != RUNS["standard-sdpa"][0] or \
                "seconds" not in run or "seconds" not in base:
            continue
        out[name] = {"seconds_ratio": round(run["seconds"] / base["seconds"], 3),
                     "step_seconds_ratio": round(run["step_seconds"] / base["step_seconds"], 3)}
        if run.get("peak_bytes") and base.get("peak_bytes"):
            out[name]["peak_ratio"] = round(run["peak_bytes"] / base["peak_bytes"], 3)
    return out


def environment(device: str) -> dict:
    import diffusers
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "diffusers": diffusers.__version__, "transformers": transformers.__version__,
           "device": device}
    if device == "cuda":
        env.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                   gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30,
                                        1))
    if xformers_available():
        import xformers

        env["xformers"] = xformers.__version__
    return env


def config_summary(config) -> str:
    return (f"{config.num_frames}x{config.height}x{config.width}, {config.num_inference_steps} "
            f"steps, offload={config.offload}, decode_chunk={config.decode_chunk_size}, "
            f"forward_chunking={config.forward_chunking}, attention={config.attention}, "
            f"compile={config.compile}")


def summary(run: dict) -> dict:
    keys = ("skipped", "error", "seconds", "step_seconds", "decoding_seconds", "peak_gib",
            "load_seconds", "warmup_seconds", "nan_frames", "allocated_after_unload_bytes")
    return {k: run[k] for k in keys if k in run}


def test_image(width: int, height: int) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


def write(report: dict, path: Path) -> None:
    text = json.dumps(report, indent=2, default=str) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check.json").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
