"""Drop-and-restore: how well each interpolation method restores frames of real footage.

Keep every other frame of a clip, restore the others at factor 2 and score them against the
frames that were dropped (PSNR on uint8 RGB, SSIM from scikit-image). `compare` does it for
every method on every clip in one run, `summarize` makes the overall table, `peak_memory`
measures what a method holds while it works.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any, Sequence

import numpy as np

from svlab.core.errors import InputError
from svlab.media.interpolate import DEFAULT_METHOD, available_methods, check_method, interpolate
from svlab.render.eval.footage import NO_FOOTAGE, Footage, footage, footage_frames, load_footage


def select_methods(names: str = "all") -> list[str]:
    """The methods named in a comma-separated list ("all": every method that can run here)."""
    if names.strip() == "all":
        return available_methods()
    return [check_method(n.strip()) for n in names.split(",") if n.strip()]


def drop_and_restore(frames: np.ndarray, method: str, **options: Any) -> dict[str, Any]:
    """Keep every other frame, restore the rest at factor 2, and score them against the truth.

    Returns psnr and ssim (means over the restored frames; PSNR on uint8 RGB, capped at 100 dB
    for identical frames), per-frame lists, and seconds per restored frame.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    frames = frames[: len(frames) - (len(frames) + 1) % 2]  # odd: the last frame is kept
    kept = frames[::2]
    start = time.perf_counter()
    restored = interpolate(kept, 2, method, **options)
    seconds = time.perf_counter() - start
    truth, made = frames[1::2], restored[1::2]
    psnr = [min(100.0, float(peak_signal_noise_ratio(t, m, data_range=255)))
            for t, m in zip(truth, made)]
    ssim = [float(structural_similarity(t, m, channel_axis=2, data_range=255))
            for t, m in zip(truth, made)]
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)),
            "seconds_per_frame": seconds / len(made), "restored": len(made),
            "psnr_frames": psnr, "ssim_frames": ssim, "frames": restored}


def compare(
    clips: Sequence[Footage] | None = None, methods: Sequence[str] | None = None, *,
    num_frames: int = 25, keep_frames: bool = False,
) -> list[dict[str, Any]]:
    """Drop-and-restore of every method on every clip, in one run: one row per (clip, method)
    with clip, kind, package, split, size, method, psnr, ssim, seconds_per_frame, restored.

    keep_frames adds the restored frames (uint8) to each row, for showing them side by side.
    """
    clips = footage() if clips is None else clips
    methods = available_methods() if methods is None else [check_method(m) for m in methods]
    if not clips:
        raise InputError(NO_FOOTAGE)
    rows = []
    for clip in clips:
        frames = load_footage(clip, num_frames)
        for method in methods:
            result = drop_and_restore(frames, method)
            row = {"clip": clip.name, "kind": clip.kind, "package": clip.package,
                   "split": clip.split,
                   "size": f"{frames.shape[2]}x{frames.shape[1]}", "method": method,
                   **{k: result[k] for k in ("psnr", "ssim", "seconds_per_frame", "restored")}}
            if keep_frames:
                row["frames"] = result["frames"]
                row["truth"] = frames
            rows.append(row)
    return rows


def summarize(rows: Sequence[dict[str, Any]], split: str | None = None) -> list[dict[str, Any]]:
    """Per method: mean PSNR and SSIM over clips (each clip weighs the same), median seconds
    per frame, and the clips on which it beats minterpolate's PSNR; over the clips of one
    split ("tuning", "held-out") or all."""
    rows = [r for r in rows if split is None or r.get("split") == split]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ref = {r["clip"]: r["psnr"] for r in rows if r["method"] == "minterpolate"}
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        out.append({
            "method": method, "split": split or "all", "clips": len(mine),
            "psnr": float(np.mean([r["psnr"] for r in mine])),
            "ssim": float(np.mean([r["ssim"] for r in mine])),
            "seconds_per_frame": float(np.median([r["seconds_per_frame"] for r in mine])),
            "beats_minterpolate_on": [r["clip"] for r in mine
                                      if r["clip"] in ref and r["psnr"] > ref[r["clip"]]],
        })
    return out


def margins(rows: Sequence[dict[str, Any]], method: str = DEFAULT_METHOD) -> list[dict[str, Any]]:
    """Per clip: `method`'s PSNR minus each other method's (positive: `method` is better), and
    the methods it loses to there."""
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    psnr = {(r["clip"], r["method"]): r["psnr"] for r in rows}
    out = []
    for clip in clips:
        if (clip, method) not in psnr:
            continue
        mine = psnr[clip, method]
        others = {m: mine - p for (c, m), p in psnr.items() if c == clip and m != method}
        out.append({"clip": clip, "method": method,
                    **{f"minus_{m}": d for m, d in others.items()},
                    "loses_to": [m for m, d in others.items() if d < 0]})
    return out


def peak_memory(
    method: str = DEFAULT_METHOD, *, num_frames: int = 25, size: tuple[int, int] = (1024, 576),
    factor: int = 4, frames: np.ndarray | None = None,
) -> dict[str, Any]:
    """Peak Python-heap bytes (tracemalloc: numpy arrays included, OpenCV's buffers not) while
    interpolating a `size` clip of `num_frames` at `factor`, next to the bytes of the uint8
    output itself, the least any method must hold."""
    if frames is None:
        frames = footage_frames(num_frames, size)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = interpolate(frames, factor, method)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"method": method, "frames": len(frames), "size": f"{size[0]}x{size[1]}",
            "factor": factor, "peak_bytes": int(peak), "output_bytes": int(out.nbytes),
            "input_bytes": int(frames.nbytes)}
