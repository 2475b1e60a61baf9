"""How long `svlab plan` takes for every family's largest model at full size, on this CPU.

Each run is a fresh process, as a user runs it: `svlab plan --model MODEL --json` at the
model's default size, imports of torch/diffusers/transformers included (most of a plan's time:
`svlab plan --model tiny` is timed beside them as that floor). Wall seconds and the child's CPU
seconds (user + sys) are both quoted: the machine is shared, so wall time rises with other
people's load while CPU time does not. A `--vram 24GiB` recommendation (several traced
settings: VAE tiling, layerwise casting, offload modes) is timed the same way.
Target: a plan in under 10 s on 2 cores.

    .venv/bin/python benchmarks/plan_speed.py [--reps 3] [--models svd-xt,ltx-video]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "plan_speed.json"
TARGET_S = 10.0
# every family's largest: SVD-XT, LTX-Video 2B, Wan2.2 A14B (two 14B experts, 720p) and
# Wan2.1 14B 720p, CogVideoX-5B; the tiny model is the floor (imports and a trivial trace)
MODELS = ("tiny", "svd-xt", "ltx-video", "wan2.2-i2v-a14b", "wan2.1-i2v-14b-720p",
          "cogvideox-5b-i2v")


def commands(models) -> dict[str, list[str]]:
    found = {}
    for model in models:
        found[f"plan {model}"] = ["plan", "--model", model, "--json"]
        if model != "tiny":
            found[f"recommend 24GiB {model}"] = ["plan", "--model", model, "--vram", "24GiB",
                                                 "--json"]
    return found


def run_once(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh `svlab` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from svlab.cli import main; raise SystemExit(main())",
                    *argv], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    results = {}
    for name, argv in commands(args.models.split(",")).items():
        reps = args.reps if name.startswith("plan") else max(1, args.reps // 2)
        load_before = os.getloadavg()[0]
        runs = [run_once(argv) for _ in range(reps)]
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        results[name] = {
            "argv": ["svlab", *argv], "reps": reps,
            "wall_s": [round(w, 2) for w in walls], "cpu_s": [round(c, 2) for c in cpus],
            "median_wall_s": round(statistics.median(walls), 2),
            "median_cpu_s": round(statistics.median(cpus), 2),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        print(f"{name}: median wall {results[name]['median_wall_s']} s, median CPU "
              f"{results[name]['median_cpu_s']} s over {reps} runs "
              f"(load average {load_before:.1f})", flush=True)
    plans = {n: r for n, r in results.items() if n.startswith("plan ")}
    slowest = max(plans, key=lambda n: plans[n]["median_cpu_s"])
    summary = {
        "claim": f"a full-size plan of every family answers in under {TARGET_S:.0f} s on 2 cores",
        "target_s": TARGET_S,
        "slowest_plan": slowest,
        "ratio_wall_to_target": round(plans[slowest]["median_wall_s"] / TARGET_S, 2),
        "ratio_cpu_to_target": round(plans[slowest]["median_cpu_s"] / TARGET_S, 2),
        "cpu_count": os.cpu_count(),
        "results": results,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"slowest plan ({slowest}): {plans[slowest]['median_wall_s']} s wall "
          f"({summary['ratio_wall_to_target']}x the target), {plans[slowest]['median_cpu_s']} s "
          f"CPU -> {OUT}")


if __name__ == "__main__":
    main()
