"""How long svlab takes to start: `import svlab`, `svlab --help`, a subcommand's help, and user
errors that need no model, each a fresh process, against `python -c pass` in the same run.

Claim: `import svlab` costs next to nothing beyond Python itself (no torch, diffusers, OpenCV or
ipywidgets), and `svlab --help`, `svlab probe --help` and a user error that needs no model answer
in well under half a second. Runs alternate between the commands, so that load from other
processes hits them alike; medians are quoted.

Run: .venv/bin/python benchmarks/startup.py  ->  benchmarks/results/startup.json
     (--python PATH times another checkout's interpreter, e.g. an older commit's venv)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT = Path(__file__).with_name("results") / "startup.json"
TARGET_S = 0.5


def commands(python: str, work: str) -> dict[str, list[str]]:
    cli = [python, "-c", "from svlab.face.cli import main; raise SystemExit(main())"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "import svlab": [python, "-c", "import svlab"],
        "svlab --help": [*cli, "--help"],
        "svlab probe --help": [*cli, "probe", "--help"],
        "svlab generate, missing image": [*cli, "generate", "--image", f"{work}/missing.png",
                                          "--out", f"{work}/x.mp4"],
        "svlab generate, unknown profile": [*cli, "generate", "--image", f"{work}/x.png",
                                            "--profile", "fastest", "--out", f"{work}/x.mp4"],
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to time")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    # As a user's machine runs it: bytecode cached (a first, untimed round writes it).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["TQDM_DISABLE"] = "1"
    with tempfile.TemporaryDirectory() as work:
        runs = commands(args.python, work)
        times: dict[str, list[float]] = {name: [] for name in runs}
        codes = {}
        for argv in runs.values():
            subprocess.run(argv, capture_output=True, env=env, cwd=work)
        for _ in range(args.repeats):
            for name, argv in runs.items():
                start = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, env=env, cwd=work)
                times[name].append(time.perf_counter() - start)
                codes[name] = done.returncode
    base = statistics.median(times["python -c pass"])
    rows = {name: {"median_s": round(statistics.median(t), 4),
                   "over_python_s": round(statistics.median(t) - base, 4),
                   "exit_status": codes[name], "seconds": [round(x, 4) for x in t]}
            for name, t in times.items()}
    worst = max(r["median_s"] for name, r in rows.items() if name.startswith("svlab"))
    result = {
        "claim": f"import svlab adds next to nothing to Python's start; --help and user errors "
                 f"that need no model answer in under {TARGET_S} s",
        "python": args.python, "repeats": args.repeats, "rows": rows,
        "worst_command_median_s": worst, "target_s": TARGET_S, "passed": worst < TARGET_S,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2)
                                                             for x in os.getloadavg()]},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main()
    for name, row in r["rows"].items():
        print(f"{name:34s} {row['median_s']:.3f} s (+{row['over_python_s']:.3f}) "
              f"exit {row['exit_status']}")
    print(f"worst command median {r['worst_command_median_s']:.3f} s (target < {r['target_s']})")
