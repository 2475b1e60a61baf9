"""svlab's generation against each family's diffusers pipeline called directly (tiny models).

Claims, per family (LTX-Video, Wan, CogVideoX): with the same seed, prompt and settings,
`svlab.run.clip.generate_clip` gives the frames of a direct `pipe(image=..., prompt=...,
output_type="np")` call, and takes at most 1.05x its time. Both sides use the same loaded
pipeline; runs alternate so that load from other processes hits both alike. svlab's time
includes what it adds: stage tracking, the step callback, the NaN check. SVD's figure is
benchmarks/service_overhead.py.

Run: .venv/bin/python benchmarks/family_overhead.py  ->  benchmarks/results/family_overhead.json
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch

from svlab.models import VideoModelLoader
from svlab.media.images import load_image
from svlab.run.clip import generate_clip
from svlab.run.settings import load_config
from svlab.run.stages import to_uint8
from sidebyside import alternate, compare, timed

REPEATS, TARGET = 15, 1.05
MODELS = ("tiny-ltx", "tiny-wan", "tiny-cogvideox")
PROMPT = "a red dog runs over the street, camera moving slowly"
SETTINGS = dict(num_inference_steps=4, seed=3, negative_prompt="blurry")
# Clips long enough that a few milliseconds of noise do not decide the ratio; tiny CogVideoX's
# learned positional embeddings fix its size at 64x64.
SIZES = {"tiny-ltx": dict(height=128, width=128), "tiny-wan": dict(height=128, width=128),
         "tiny-cogvideox": {}}
RESULT = Path(__file__).with_name("results") / "family_overhead.json"


def direct_call(pipe, model: str, image, c) -> np.ndarray:
    """The pipeline as its diffusers documentation calls it, every setting spelled out."""
    extra = {"frame_rate": c.fps} if model == "tiny-ltx" else {}
    frames = pipe(image=image, prompt=PROMPT, negative_prompt=c.negative_prompt,
                  height=c.height, width=c.width, num_frames=c.num_frames,
                  num_inference_steps=c.num_inference_steps, guidance_scale=c.guidance_scale,
                  generator=torch.Generator("cpu").manual_seed(c.seed), output_type="np",
                  **extra).frames[0]
    return to_uint8(frames)


def measure(model: str) -> dict:
    config = load_config("cpu-tiny", {"model": model, **SETTINGS, **SIZES[model]})
    y, x = np.mgrid[0:config.height, 0:config.width]
    picture = np.stack([x * 3, y * 3, (x + y) % 256], axis=-1).astype(np.uint8)
    image = load_image(picture, config.width, config.height)
    loader = VideoModelLoader(config)
    pipe = loader.load()
    pipe.set_progress_bar_config(disable=True)
    ours_frames = generate_clip(image, config, prompt=PROMPT, loader=loader).frames  # warm up
    identical = bool(np.array_equal(ours_frames, direct_call(pipe, model, image, config)))
    times = alternate(
        {"svlab": lambda i: timed(generate_clip, image, config, prompt=PROMPT, loader=loader),
         "direct": lambda i: timed(direct_call, pipe, model, image, config)}, REPEATS)
    side = compare(times, "svlab", "direct")
    return {"settings": {k: getattr(config, k) for k in (
                "height", "width", "num_frames", "num_inference_steps", "guidance_scale",
                "fps", "seed")},
            "identical_frames": identical, **side,
            "meets_target": identical and side["ratio_of_medians"] <= TARGET}


def main() -> dict:
    torch.set_num_threads(1)  # steady timings on a shared machine; both sides alike
    result = {
        "claim": f"svlab frames identical to each family's direct diffusers call, time <= "
                 f"{TARGET}x (same loaded pipeline, alternating repeats, medians)",
        "repeats": REPEATS, "target": TARGET,
        "models": {model: measure(model) for model in MODELS},
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
    }
    result["meets_target"] = all(m["meets_target"] for m in result["models"].values())
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    r = main()
    for model, m in r["models"].items():
        print(f"{model:15} identical {m['identical_frames']}; svlab {m['medians']['svlab']:.3f} s "
              f"vs direct {m['medians']['direct']:.3f} s: {m['ratio_of_medians']:.3f}x "
              f"(paired {m['median_of_paired_ratios']:.3f}x)")
    print(f"meets target (<= {TARGET}x, identical): {r['meets_target']}")
