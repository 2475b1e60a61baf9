"""How long `svlab plan` takes for full-size SVD-XT (576x1024, 25 frames, fp16) on this CPU.

Each run is a fresh process, as a user runs it: `svlab plan --model svd-xt --json`, imports of
torch/diffusers/transformers included. Wall seconds and the child's CPU seconds (user + sys)
are both quoted: the machine is shared, so wall time rises with other people's load while CPU
time does not. A `--vram 8GiB` recommendation (several traced settings) is timed the same way.
Target: a plan in under 10 s on 2 cores.

    .venv/bin/python benchmarks/plan_speed.py [--reps 5]
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
COMMANDS = {
    "plan": ["plan", "--model", "svd-xt", "--height", "576", "--width", "1024", "--frames",
             "25", "--dtype", "fp16", "--json"],
    "recommend_8GiB": ["plan", "--model", "svd-xt", "--vram", "8GiB", "--json"],
}


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
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for name, argv in COMMANDS.items():
        reps = args.reps if name == "plan" else max(1, args.reps // 2)
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
    plan = results["plan"]
    summary = {
        "claim": f"a full-size SVD-XT plan answers in under {TARGET_S:.0f} s on 2 cores",
        "target_s": TARGET_S,
        "ratio_wall_to_target": round(plan["median_wall_s"] / TARGET_S, 2),
        "ratio_cpu_to_target": round(plan["median_cpu_s"] / TARGET_S, 2),
        "cpu_count": os.cpu_count(),
        "results": results,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"plan: {plan['median_wall_s']} s wall ({summary['ratio_wall_to_target']}x the "
          f"target), {plan['median_cpu_s']} s CPU -> {OUT}")


if __name__ == "__main__":
    main()
