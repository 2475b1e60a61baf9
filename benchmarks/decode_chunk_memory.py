"""Peak memory of VAE decoding against the decode chunk size (the tiny model, a larger clip).

Claim: the peak memory of decoding drops when `decode_chunk_size` drops, the knob diffusers
documents for SVD's out-of-memory during decoding. The latents are denoised once, then decoded
with each chunk size in turn (largest last too, to show the order does not matter); each decode
is measured by `StageTracker` (on a CPU: the process's resident high-water mark, reset per
stage). The tiny model's VAE has SVD's temporal decoder layout at small widths, so the curve's
shape, not its scale, carries over to the full-size model (see docs/vram.md for that).

Run: .venv/bin/python benchmarks/decode_chunk_memory.py -> benchmarks/results/decode_chunk_memory.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from svlab.run.settings import load_config
from svlab.memory import StageTracker
from svlab.models import VideoModelLoader
from svlab.media.images import load_image
from svlab.run.stages import decode, denoise

SETTINGS = dict(height=512, width=512, num_frames=16, num_inference_steps=1)
CHUNKS = [16, 8, 4, 2, 1, 16]
RESULT = Path(__file__).with_name("results") / "decode_chunk_memory.json"


def main() -> dict:
    torch.set_num_threads(1)
    config = load_config("cpu-tiny", overrides=SETTINGS)
    y, x = np.mgrid[0:config.height, 0:config.width]
    picture = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    loader = VideoModelLoader(config)
    pipe = loader.load()
    image = load_image(picture, config.width, config.height)
    latents = denoise(pipe, loader.family, image, None, config, tracker=StageTracker("cpu"))
    rows = []
    for chunk in CHUNKS:
        tracker = StageTracker("cpu")
        with tracker.stage("decoding"):
            decode(pipe, loader.family, latents, chunk)
        row = tracker.table()["decoding"]
        rows.append({"decode_chunk_size": chunk, "added_bytes": row.added_bytes,
                     "seconds": row.seconds})
        print(f"decode_chunk_size {chunk:3d}: +{row.added_bytes / 2**20:8.1f} MiB "
              f"in {row.seconds:.2f}s")
    curve = [r["added_bytes"] for r in rows[:-1]]
    result = {
        "claim": "decoding's peak memory drops with the decode chunk size",
        "settings": {k: getattr(config, k) for k in ("model", *SETTINGS)},
        "method": tracker.method,
        "rows": rows,
        "monotonic": all(a >= b for a, b in zip(curve, curve[1:])),
        "ratio_largest_to_smallest": curve[0] / curve[-1],
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main()
    print(f"monotonic: {r['monotonic']}; chunk {CHUNKS[0]} needs "
          f"{r['ratio_largest_to_smallest']:.1f}x the memory of chunk 1")
