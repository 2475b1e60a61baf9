"""What a sweep's orchestration costs: `svlab.sweep` against the same runs made back to back
with `svlab.generate` and a loaded model.

Claim: a sweep takes at most 1.10x the time of the same runs made one after another with the
model already loaded (each writing its video and manifest), medians of alternating repeats.
The sweep's time includes everything it adds: reading and checking the sweep, keying every
run (the input's content hash, the model's identity), the lock and the partial-file sweep,
the ordering, the progress bar, the table rewritten as runs finish, and by default the
metrics of every video (decoded from its file), with the image conditioning reused. The
sweep is also timed without metrics and without reuse, to show what each part costs. The
videos of a sweep and of the reference are checked identical (decoded frames). The order of
the four sides rotates from repeat to repeat, so that a machine getting busier or quieter
does not favour one of them; the median of each repeat's own ratio is reported beside the
ratio of medians.

The runs are the tiny model at 128x128, 8 frames, 4 steps (benchmarks/service_overhead.py's
clip): about a second each, the worst case for overhead (a real model's run takes minutes).

Run: .venv/bin/python benchmarks/sweep_overhead.py  ->  benchmarks/results/sweep_overhead.json
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import svlab
from svlab.media import read_video
from svlab.run.clip import cached_loader
from svlab.run.settings import load_config
from sidebyside import alternate, compare

REPEATS, TARGET = 5, 1.10
BASE = {"profile": "cpu-tiny", "height": 128, "width": 128, "num_frames": 8,
        "num_inference_steps": 4}
GRID = {"seed": [0, 1, 2], "motion_bucket_id": [1, 127, 255]}
RESULT = Path(__file__).with_name("results") / "sweep_overhead.json"
VARIANTS = {"sweep": {}, "sweep_no_metrics": {"metrics": False},
            "sweep_no_metrics_no_reuse": {"metrics": False, "reuse": False}}


def picture(path: Path) -> Path:
    y, x = np.mgrid[0:256, 0:256]
    rgb = np.stack([x, y, (x * y) % 256], axis=-1).astype(np.uint8)
    rgb[60:140, 80:180] = (230, 40, 40)
    Image.fromarray(rgb).save(path)
    return path


def back_to_back(image: Path, out: Path) -> float:
    """The reference: every run of the grid, one after another, with the loaded model."""
    loader = cached_loader(load_config(BASE))
    start = time.perf_counter()
    for seed in GRID["seed"]:
        for motion in GRID["motion_bucket_id"]:
            svlab.generate(image=str(image), config=BASE, out=out / f"{seed}-{motion}.mp4",
                           seed=seed, motion_bucket_id=motion, loader=loader)
    return time.perf_counter() - start


def swept(image: Path, out: Path, **options) -> float:
    start = time.perf_counter()
    table = svlab.sweep({"base": BASE, "inputs": [{"image": str(image)}], "grid": GRID}, out,
                        progress=False, **options)
    assert (table["status"] == "done").all(), table["reason"].tolist()
    return time.perf_counter() - start


def identical(reference: Path, sweep: Path) -> bool:
    table = svlab.read_results(sweep)
    for row in table.itertuples():
        ours, _ = read_video(sweep / row.video)
        theirs, _ = read_video(reference / f"{row.seed}-{row.motion_bucket_id}.mp4")
        if not np.array_equal(ours, theirs):
            return False
    return True


def main() -> dict:
    torch.set_num_threads(1)  # steady timings on a shared machine; both sides alike
    work = Path(tempfile.mkdtemp(prefix="sweep-overhead-"))
    try:
        image = picture(work / "picture.png")
        back_to_back(image, work / "warm")  # load the model, warm every path once
        swept(image, work / "warm-sweep")
        same = identical(work / "warm", work / "warm-sweep")
        sides = {"reference": lambda i: back_to_back(image, work / f"reference{i}")}
        for name, options in VARIANTS.items():
            sides[name] = lambda i, name=name, options=options: swept(
                image, work / f"{name}{i}", **options)
        times = alternate(sides, REPEATS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summaries = {name: compare(times, name, "reference") for name in VARIANTS}
    medians = summaries["sweep"]["medians"]
    runs = len(GRID["seed"]) * len(GRID["motion_bucket_id"])
    result = {
        "claim": f"svlab.sweep <= {TARGET}x the same runs made back to back with a loaded model",
        "settings": {**BASE, "grid": GRID, "runs": runs, "repeats": REPEATS},
        "identical_frames": same,
        "seconds": times,
        "medians": medians,
        "per_run_overhead_seconds": {name: (medians[name] - medians["reference"]) / runs
                                     for name in VARIANTS},
        "ratio_of_medians": {name: c["ratio_of_medians"] for name, c in summaries.items()},
        # each repeat's sides run close together in time
        "median_of_paired_ratios": {name: c["median_of_paired_ratios"]
                                    for name, c in summaries.items()},
        "target": TARGET,
        "meets_target": summaries["sweep"]["ratio_of_medians"] <= TARGET,
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main()
    print(json.dumps({k: r[k] for k in ("identical_frames", "medians", "ratio_of_medians",
                                        "median_of_paired_ratios", "per_run_overhead_seconds",
                                        "meets_target")}, indent=2))
