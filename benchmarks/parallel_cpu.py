"""What splitting one video over processes costs on a CPU: tiny Wan made by 1 process and by
2 gloo processes (`gpus=2`, diffusers' Ulysses context parallelism), each rank on one torch
thread, frames checked identical.

Reported per side: the whole call's seconds (spawning the second process, its imports and
model load included) and rank 0's denoising seconds (from the manifest). The tiny model has 48
video tokens, so this measures the mechanism's overhead (an all-to-all around every attention,
an all-gather at the end), not a speed-up: that needs a model whose attention outweighs the
exchanges, on GPUs.

Run: .venv/bin/python benchmarks/parallel_cpu.py  ->  benchmarks/results/parallel_cpu.json
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import svlab

SETTINGS = dict(config="cpu-tiny", model="tiny-wan", num_inference_steps=4, num_frames=9,
                prompt="a red square")


def run(gpus: int, image: Path, out: Path) -> tuple[np.ndarray, dict]:
    torch.set_num_threads(gpus)  # shared out: one thread per rank
    start = time.perf_counter()
    result = svlab.generate(image=image, gpus=gpus, out=out / f"{gpus}.mp4", **SETTINGS)
    return result.frames, {"seconds": round(time.perf_counter() - start, 2),
                           "denoising_seconds": result.manifest["stages"]["denoising"]["seconds"]}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        image = out / "in.png"
        Image.new("RGB", (64, 64), (200, 40, 40)).save(image)
        run(1, image, out)  # the tiny model built and imports warmed, not timed
        one, one_facts = run(1, image, out)
        two, two_facts = run(2, image, out)
    facts = {"settings": {k: v for k, v in SETTINGS.items() if k != "prompt"},
             "one_process": one_facts, "two_processes": two_facts,
             "max_abs_difference": int(np.abs(one.astype(int) - two).max())}
    target = Path(__file__).parent / "results" / "parallel_cpu.json"
    target.write_text(json.dumps(facts, indent=2) + "\n")
    print(json.dumps(facts, indent=2))


if __name__ == "__main__":
    main()
