"""Predicted against measured peak VRAM per stage for full-size SVD-XT on a CUDA machine.

The prediction (`svlab.memory.plan_memory`, meta-device trace) never touches the GPU; the
measurement (`svlab.render.eval.memory_study.measure_stages`) builds SVD-XT with random fp16 weights on
the GPU (no download: memory does not depend on the weights' values), runs two denoising steps
and the decode, and reads `torch.cuda.max_memory_allocated` per stage. Target: within 10%.

    .venv/bin/python benchmarks/memory_gpu.py            # CUDA: writes results/memory_gpu.json
    .venv/bin/python benchmarks/memory_gpu.py --dry-run  # any machine: tiny model on the CPU

Without CUDA it runs the dry run and exits 0, so benchmarks/gpu_check.sh can call it anywhere;
`compare()` is importable for the same purpose.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a bare checkout too

import torch  # noqa: E402

from svlab.render.eval.memory_study import measured_vs_predicted  # noqa: E402

GPU_SETTINGS = [  # SVD-XT's own size: 25 frames at 576x1024, fp16
    dict(offload="none", decode_chunk_size=8, forward_chunking=False),
    dict(offload="none", decode_chunk_size=25, forward_chunking=False),
    dict(offload="model", decode_chunk_size=2, forward_chunking=True),
]
DRY_SETTINGS = [dict(offload="none", decode_chunk_size=2, forward_chunking=False)]
RESULTS = Path(__file__).parent / "results" / "memory_gpu.json"


def compare(model: str, settings: list[dict], *, device: str, dtype: str, height: int,
            width: int, num_frames: int, reps: int = 1, steps: int = 2) -> dict:
    """Rows of (setting, stage, measured, predicted, ratio) and the error summary."""
    sized = [dict(s, height=height, width=width, num_frames=num_frames) for s in settings]
    # no warm-up on CUDA: the allocator's counters see tensors only, not one-time buffers
    rows = measured_vs_predicted(model, sized, device=device, dtype=dtype, reps=reps,
                                 warmup=device == "cpu", num_inference_steps=steps)
    for row in rows:
        print(f"offload={row['offload']} chunk={row['decode_chunk_size']} "
              f"ff_chunking={row['forward_chunking']} {row['stage']:<15} measured "
              f"{row['measured_bytes'] / 2**30:7.3f} GiB  predicted "
              f"{row['predicted_bytes'] / 2**30:7.3f} GiB  ratio {row['ratio']}", flush=True)
    errors = [abs(r["ratio"] - 1) for r in rows if r["ratio"] is not None]
    return {
        "model": model, "dtype": dtype, "device": device, "height": height, "width": width,
        "num_frames": num_frames, "num_inference_steps": steps, "reps": reps, "rows": rows,
        "max_abs_error": round(max(errors), 3) if errors else None,
        "within_10pct": sum(e <= 0.10 for e in errors), "of": len(errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny model on the CPU")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="the first setting only (the model-offload one builds its random "
                             "weights on the CPU, which takes a minute or more)")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.dry_run or not torch.cuda.is_available():
        if not args.dry_run:
            print("memory_gpu: no CUDA device; running the dry run (tiny model on the CPU)")
        result = compare("tiny", DRY_SETTINGS, device="cpu", dtype="fp32", height=64, width=64,
                         num_frames=4, reps=args.reps, steps=1)
        result["dry_run"] = True
        out = Path(os.environ["OUT"]) / "memory_gpu_dry_run.json" if os.environ.get("OUT") \
            else None
    else:
        settings = GPU_SETTINGS[:1] if args.quick else GPU_SETTINGS
        result = compare("svd-xt", settings, device="cuda", dtype="fp16", height=576,
                         width=1024, num_frames=25, reps=args.reps)
        result["gpu"] = torch.cuda.get_device_name()
        result["claim"] = "predicted peak VRAM per stage within 10% of torch.cuda.max_memory_allocated"
        out = RESULTS
        if os.environ.get("OUT"):
            (Path(os.environ["OUT"]) / "memory_gpu.json").write_text(json.dumps(result, indent=2))
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"max |error| {result['max_abs_error']}, {result['within_10pct']}/{result['of']} "
          f"within 10% ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
