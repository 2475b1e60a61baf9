"""Flow interpolation's speed at 768x576 against an earlier version of it, side by side.

    .venv/bin/python benchmarks/flow_speed.py [--baseline COMMIT] [--repeats 5] [--threads 2]

The baseline's `svlab/media/flow.py` (and `pairs.py` when it has one) is taken from git
(`git show COMMIT:...`) and loaded as a module of its own, so both versions run in one
process, on the same frames, alternating per repeat: the machine is shared, and only ratios
measured side by side mean much. Every clip of the footage is resized to 768x576 and restored
as in benchmarks/interpolation.py (every other frame of 9, at factor 2); the figure is the
median over repeats per clip, then the median over the clips, in wall and CPU seconds per
restored frame. Prints a table and writes benchmarks/results/flow_speed.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from svlab.media import flow
from svlab.media.interpolate import interpolate

sys.path.insert(0, str(Path(__file__).parent))
from interpolation import speed_clips  # noqa: E402  (the benchmark beside this one)

from svlab.render.eval.footage import footage  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "flow_speed.json"


def baseline_class(commit: str, folder: Path):
    """FlowInterpolator as it was at `commit`, loaded from git into a private package."""
    package = folder / "flow_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("flow", "pairs"):
        shown = subprocess.run(["git", "show", f"{commit}:svlab/media/{name}.py"],
                               cwd=ROOT, capture_output=True, text=True)
        if shown.returncode == 0:
            (package / f"{name}.py").write_text(shown.stdout)
    sys.path.insert(0, str(folder))
    return importlib.import_module("flow_baseline.flow").FlowInterpolator


def restore_seconds(frames, make) -> tuple[float, float]:
    """Wall and CPU seconds per restored frame: every other frame restored at factor 2 by a
    fresh interpolator (as interpolate() makes one per call), pairs in order."""
    kept = frames[::2]
    interpolator = make()
    wall, cpu = time.perf_counter(), time.process_time()
    for a, b in zip(kept[:-1], kept[1:]):
        interpolator.between(a, b, [0.5])
    made = len(kept) - 1
    return (time.perf_counter() - wall) / made, (time.process_time() - cpu) / made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="62ee0f9", help="git commit to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="cv2.setNumThreads")
    parser.add_argument("--options", type=json.loads, default={},
                        help='FlowInterpolator options for the current version, as JSON')
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    clips = speed_clips(footage(), 9)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        versions = {"baseline": baseline_class(args.baseline, Path(tmp)),
                    "current": lambda: flow.FlowInterpolator(**args.options)}
        interpolate(next(iter(clips.values()))[:2], 2, "flow")  # warm-up
        per_clip: dict[str, dict[str, list]] = {v: {} for v in versions}
        for name, frames in clips.items():
            for _ in range(args.repeats):
                for version, make in versions.items():
                    per_clip[version].setdefault(name, []).append(restore_seconds(frames, make))
    rows = {}
    for version, clip_runs in per_clip.items():
        wall = {c: statistics.median(w for w, _ in runs) for c, runs in clip_runs.items()}
        cpu = {c: statistics.median(c_ for _, c_ in runs) for c, runs in clip_runs.items()}
        rows[version] = {"seconds_per_frame": statistics.median(wall.values()),
                         "cpu_seconds_per_frame": statistics.median(cpu.values()),
                         "per_clip_wall": wall, "per_clip_cpu": cpu}
    base, cur = rows["baseline"], rows["current"]
    for version, row in rows.items():
        print(f"{version:9s} {row['seconds_per_frame']:.3f} s/frame wall, "
              f"{row['cpu_seconds_per_frame']:.3f} CPU s/frame (median over {len(clips)} clips)")
    ratio = {"wall": cur["seconds_per_frame"] / base["seconds_per_frame"],
             "cpu": cur["cpu_seconds_per_frame"] / base["cpu_seconds_per_frame"]}
    print(f"current / baseline: {ratio['wall']:.2f}x wall, {ratio['cpu']:.2f}x CPU")
    result = {"command": "python benchmarks/flow_speed.py " + " ".join(sys.argv[1:]),
              "baseline": args.baseline, "options": args.options, "size": "768x576",
              "clips": list(clips),
              "repeats": args.repeats, "cv2_threads": args.threads, "versions": rows,
              "current_over_baseline": ratio,
              "machine": {"cpus": os.cpu_count(), "loadavg_start": load_start,
                          "loadavg_end": os.getloadavg()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
