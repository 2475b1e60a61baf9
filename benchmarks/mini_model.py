"""svlab's trained `mini` model against three baselines, on pictures it never saw.

Claims (issue 21), on scikit-image's bundled pictures (the training used OpenCV's and real
footage only), at motion_bucket_id 1, 64, 127, 191, 255 and three seeds:
- fidelity: the first frame's PSNR against the input >= 24 dB;
- motion follows the setting: the mean optical-flow magnitude rises with motion_bucket_id
  (Spearman >= 0.9 over the five buckets, per image, averaged), bucket 255 >= 3x bucket 1;
- smoothness >= 28 dB at every bucket, flicker no worse than the fallback's, no NaN or black
  frame;
- the picture stays recognisable: every frame warped back onto the input along its measured
  flow >= 20 dB against the input, its mean colour within 10 levels of the input's;
- speed: a clip in <= 2 s on this CPU at the model's default steps (median), beside the random
  `tiny` at the same size.
Baselines: the input copied to every frame, the fallback engine's pan, the random `tiny`.

Run: .venv/bin/python benchmarks/mini_model.py [--images N] [--seeds N]
  -> benchmarks/results/mini_model.json, benchmarks/results/mini_model_sheet.png
(the full study is every image and three seeds; fewer are recorded in the JSON when asked)
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from svlab.render.eval.metrics import video_metrics
from svlab.media.fallback import fallback_frames
from svlab.models import VideoModelLoader
from svlab.media.images import load_image
from svlab.run.clip import generate_clip
from svlab.run.settings import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from mini_data import eval_images  # noqa: E402  (the held-out pictures, one definition)

BUCKETS = (1, 64, 127, 191, 255)
SEEDS = (0, 1, 2)
RESULTS = Path(__file__).with_name("results")
TARGETS = dict(fidelity_psnr=24.0, spearman=0.9, ratio_255_to_1=3.0, smoothness_psnr=28.0,
               warped_psnr=20.0, colour_levels=10.0, seconds=2.0)


def warped_back(frames: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """(worst PSNR of any frame warped back onto the input along the DIS flow from the input
    to it, worst mean-colour distance in levels). Pixels whose flow leaves the frame are left
    out of the PSNR."""
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    worst_psnr, worst_colour = math.inf, 0.0
    for frame in frames:
        flow = dis.calc(grey, cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), None)
        mx, my = xs + flow[..., 0], ys + flow[..., 1]
        back = cv2.remap(frame, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        mse = float(np.mean((back.astype(np.float64) - image)[inside] ** 2)) if inside.any() \
            else 255.0**2
        worst_psnr = min(worst_psnr, math.inf if mse == 0 else 10 * math.log10(255**2 / mse))
        colour = np.abs(frame.reshape(-1, 3).mean(0) - image.reshape(-1, 3).mean(0)).max()
        worst_colour = max(worst_colour, float(colour))
    return worst_psnr, worst_colour


def spearman(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if np.std(ry) == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def run_model(model: str, images, frames_for) -> dict:
    """Every image x bucket x seed through `frames_for(image, bucket, seed)`."""
    rows = []
    for name, image in images:
        for bucket in BUCKETS:
            for seed in SEEDS:
                frames = frames_for(image, bucket, seed)
                m = video_metrics(frames, image)
                wpsnr, colour = warped_back(frames, image)
                rows.append(dict(image=name, bucket=bucket, seed=seed,
                                 fidelity_psnr=m.fidelity_psnr, motion_px=m.motion_px,
                                 smoothness_psnr=m.smoothness_psnr, flicker=m.flicker,
                                 nan_frames=m.nan_frames, black_frames=m.black_frames,
                                 warped_psnr=wpsnr, colour_levels=colour))
    return summarise(model, rows)


def finite_median(values) -> float:
    values = [v for v in values if math.isfinite(v)]
    return statistics.median(values) if values else math.inf


def summarise(model: str, rows: list[dict]) -> dict:
    by_bucket = {b: [r for r in rows if r["bucket"] == b] for b in BUCKETS}
    names = sorted({r["image"] for r in rows})
    rhos = []
    for name in names:
        mean_motion = [statistics.mean(r["motion_px"] for r in by_bucket[b] if r["image"] == name)
                       for b in BUCKETS]
        rhos.append(spearman(BUCKETS, mean_motion))
    motion_of = {b: statistics.mean(r["motion_px"] for r in by_bucket[b]) for b in BUCKETS}
    return dict(
        model=model,
        clips=len(rows),
        fidelity_psnr_mean=statistics.mean(min(r["fidelity_psnr"], 99.0) for r in rows),
        fidelity_psnr_min=min(r["fidelity_psnr"] for r in rows),
        motion_px_by_bucket={str(b): round(v, 3) for b, v in motion_of.items()},
        spearman_mean=statistics.mean(rhos),
        ratio_255_to_1=motion_of[255] / max(motion_of[1], 1e-6),
        smoothness_psnr_by_bucket={str(b): round(finite_median(r["smoothness_psnr"]
                                                               for r in by_bucket[b]), 2)
                                   for b in BUCKETS},
        flicker_mean=statistics.mean(r["flicker"] for r in rows),
        nan_or_black_frames=sum(r["nan_frames"] + r["black_frames"] for r in rows),
        warped_psnr_worst_median=finite_median(r["warped_psnr"] for r in rows),
        warped_psnr_share_ok=sum(r["warped_psnr"] >= TARGETS["warped_psnr"] for r in rows)
        / len(rows),
        colour_levels_worst=max(r["colour_levels"] for r in rows),
        colour_share_ok=sum(r["colour_levels"] <= TARGETS["colour_levels"] for r in rows)
        / len(rows),
    )


def model_frames(model: str):
    config = load_config(None, {"model": model})
    loader = VideoModelLoader(config)
    loader.load()

    def frames_for(image, bucket, seed):
        c = config.replace(motion_bucket_id=bucket, seed=seed, height=64, width=64,
                           num_frames=8)
        return generate_clip(load_image(image, 64, 64), c, loader=loader).frames

    return frames_for, config


def seconds_per_clip(frames_for, image: np.ndarray, repeats: int = 7) -> float:
    """The median time of generate_clip at the model's defaults (64x64, 8 frames): the model
    part of `svlab generate`, the model already loaded."""
    frames_for(image, 127, 0)  # warm up
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        frames_for(image, 127, seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def contact_sheet(images, frames_for, path: Path, picks: int = 6) -> None:
    """Rows: pictures at buckets 1, 127, 255; columns: the input and frames 0, 2, 4, 7."""
    cell, pad = 96, 4
    columns = ["input", "f0", "f2", "f4", "f7"]
    rows = [(name, image, b) for name, image in images[:picks] for b in (1, 127, 255)]
    sheet = Image.new("RGB", (160 + len(columns) * (cell + pad), 24 + len(rows) * (cell + pad)),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(columns):
        draw.text((160 + j * (cell + pad) + 30, 6), label, fill="black")
    for i, (name, image, bucket) in enumerate(rows):
        frames = frames_for(image, bucket, 0)
        y = 24 + i * (cell + pad)
        draw.text((6, y + 40), f"{name}\nbucket {bucket}", fill="black")
        for j, tile in enumerate([image, frames[0], frames[2], frames[4], frames[7]]):
            sheet.paste(Image.fromarray(tile).resize((cell, cell), Image.NEAREST),
                        (160 + j * (cell + pad), y))
    sheet.save(path)


def main() -> None:
    import argparse

    global SEEDS
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=None, help="the first N held-out pictures")
    parser.add_argument("--seeds", type=int, default=len(SEEDS))
    args = parser.parse_args()
    SEEDS = tuple(range(args.seeds))
    images = eval_images(64)[:args.images]
    mini, config = model_frames("mini")
    tiny, _ = model_frames("tiny")
    results = {
        "mini": run_model("mini", images, mini),
        "tiny (random weights)": run_model("tiny", images, tiny),
        "copy (input on every frame)": run_model(
            "copy", images, lambda image, b, s: np.repeat(image[None], 8, axis=0)),
        "fallback (pan)": run_model(
            "fallback", images, lambda image, b, s: fallback_frames(
                width=64, height=64, num_frames=8, fps=7, seed=s, image=image)),
    }
    speed = {"mini": seconds_per_clip(mini, images[0][1], repeats=3),
             "tiny": seconds_per_clip(tiny, images[0][1], repeats=3)}
    m = results["mini"]
    checks = {
        "fidelity_psnr_mean >= 24": m["fidelity_psnr_mean"] >= TARGETS["fidelity_psnr"],
        "spearman_mean >= 0.9": m["spearman_mean"] >= TARGETS["spearman"],
        "ratio_255_to_1 >= 3": m["ratio_255_to_1"] >= TARGETS["ratio_255_to_1"],
        "smoothness >= 28 dB at every bucket": min(m["smoothness_psnr_by_bucket"].values())
        >= TARGETS["smoothness_psnr"],
        "flicker <= fallback's": m["flicker_mean"] <= results["fallback (pan)"]["flicker_mean"],
        "no NaN or black frame": m["nan_or_black_frames"] == 0,
        "every frame warped back >= 20 dB": m["warped_psnr_share_ok"] == 1.0,
        "mean colour within 10 levels": m["colour_share_ok"] == 1.0,
        "clip <= 2 s": speed["mini"] <= TARGETS["seconds"],
    }
    RESULTS.mkdir(exist_ok=True)
    contact_sheet(images, mini, RESULTS / "mini_model_sheet.png")
    out = dict(
        claim="svlab's trained mini model on held-out pictures vs copy, fallback and tiny",
        machine=dict(platform=platform.platform(), processor=platform.processor() or None),
        images=[name for name, _ in images], buckets=list(BUCKETS), seeds=list(SEEDS),
        defaults=dict(steps=config.num_inference_steps, size="64x64",
                      frames=config.num_frames, fps=config.fps,
                      guidance=[config.min_guidance_scale, config.max_guidance_scale]),
        results=results, seconds_per_clip_median=speed, targets=TARGETS, checks=checks,
        passed=all(checks.values()),
    )
    (RESULTS / "mini_model.json").write_text(json.dumps(out, indent=2, default=float) + "\n")
    print(json.dumps(dict(checks=checks, speed=speed), indent=1))


if __name__ == "__main__":
    main()
