"""Tables and figures the notebooks show, kept here so that notebooks stay thin: a notebook
names its parameters, calls svlab, and displays what these functions return.

Tables are Markdown strings (`IPython.display.Markdown(...)` renders them, and they read well
in a report's source too); figures are matplotlib `Figure`s. matplotlib is imported only when
a figure is drawn.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from svlab.core.errors import ConfigError
from svlab.memory import recommend

Column = str | tuple[str, str | Callable[[dict], Any]]
GiB, MiB = 2**30, 2**20


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """`rows` as a Markdown table. A column is a key, or (title, key or function of a row).
    Floats get 4 decimals for SSIM, 3 for seconds and ratios, 2 otherwise."""
    def title_and_getter(column: Column):
        if isinstance(column, str):
            return column, column, lambda row: row.get(column, "")
        title, get = column
        return title, title, (get if callable(get) else lambda row, key=get: row.get(key, ""))

    def cell(name: str, value: Any) -> str:
        if isinstance(value, float):
            digits = 4 if name == "ssim" else 3 if ("seconds" in name or "/" in name) else 2
            return f"{value:.{digits}f}"
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value)) or "-"
        return str(value)

    specs = [title_and_getter(c) for c in columns]
    lines = ["| " + " | ".join(t for t, _, _ in specs) + " |", "|" + " --- |" * len(specs)]
    lines += ["| " + " | ".join(cell(name, get(r)) for _, name, get in specs) + " |"
              for r in rows]
    return "\n".join(lines)


# generation (01_generate, the panel) --------------------------------------------------------

TINY_FRAME = 180  # frames narrower than this are enlarged with nearest neighbour, not blurred


def frame_strip(frames: np.ndarray, count: int = 8):
    """A matplotlib Figure with `count` frames taken evenly from the clip, labelled by index.
    Tiny frames are enlarged pixel for pixel (nearest neighbour), not blurred."""
    from matplotlib.figure import Figure

    frames = np.asarray(frames)
    indices = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round()
                        .astype(int))
    height, width = frames.shape[1:3]
    fig = Figure(figsize=(1.8 * len(indices), 1.8 * height / width + 0.3), layout="constrained")
    interpolation = "nearest" if width < TINY_FRAME else "antialiased"
    for ax, i in zip(np.atleast_1d(fig.subplots(1, len(indices))), indices):
        ax.imshow(frames[i], interpolation=interpolation)
        ax.set_title(f"frame {i}", fontsize=8)
        ax.axis("off")
    return fig


def stage_chart(manifest: dict[str, Any]):
    """A matplotlib Figure from the manifest's `stages`: seconds per stage, and the memory
    each stage added over what was in use when it started (`added_bytes`), with the run's
    peak marked. Each stage's own cost shows; the peak says what the device must hold."""
    from matplotlib.figure import Figure

    stages = manifest.get("stages") or {}
    names = list(stages)
    seconds = [stages[n].get("seconds") or 0.0 for n in names]
    added = [(stages[n].get("added_bytes") or 0) / MiB for n in names]
    peaks = {n: stages[n].get("peak_bytes") for n in names if stages[n].get("peak_bytes")}
    fig = Figure(figsize=(9, 0.45 * len(names) + 1.5), layout="constrained")
    time_ax, mem_ax = fig.subplots(1, 2, sharey=True)
    time_ax.barh(names, seconds, color="tab:blue")
    time_ax.set_xlabel("seconds")
    time_ax.invert_yaxis()
    mem_ax.barh(names, added, color="tab:orange", label="added by the stage")
    mem_ax.set_xlabel(f"MiB ({manifest.get('device') or 'device'})")
    if peaks:
        top = max(peaks, key=peaks.get)
        mem_ax.axvline(peaks[top] / MiB, color="black", linestyle="--",
                       label=f"peak of the run: {peaks[top] / MiB:,.0f} MiB ({top})")
    mem_ax.legend(loc="lower right", fontsize=7)
    time_ax.set_title("time per stage", fontsize=9)
    mem_ax.set_title("memory each stage added, and the peak", fontsize=9)
    return fig


# memory (02_vram_profile) --------------------------------------------------------------------

def memory_profile_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of `svlab.render.eval.memory_study.measured_vs_predicted`, one per stage."""
    return markdown_table(rows, [
        ("size", lambda r: f"{r['height']}x{r['width']}"), ("frames", "num_frames"),
        ("decode chunk", "decode_chunk_size"), ("stage", "stage"),
        ("measured MiB", lambda r: f"{r['measured_bytes'] / MiB:.1f}"),
        ("predicted MiB", lambda r: f"{r['predicted_bytes'] / MiB:.1f}"),
        ("predicted / measured", "ratio"), ("seconds", "seconds"),
    ])


def memory_profile_plot(rows: Sequence[dict[str, Any]], title: str):
    """Measured and predicted peak per stage, side by side."""
    import matplotlib.pyplot as plt

    labels = [f"{r['height']}x{r['width']} c{r['decode_chunk_size']}\n{r['stage']}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(rows)), 3.5))
    ax.bar(x - 0.2, [r["measured_bytes"] / MiB for r in rows], 0.4, label="measured")
    ax.bar(x + 0.2, [r["predicted_bytes"] / MiB for r in rows], 0.4, label="predicted")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("peak MiB")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plan_sweep_table(sweep: Sequence[dict[str, Any]]) -> str:
    """A list of `svlab.memory.plan_memory` results (one per setting): peak per stage and
    overall, in GiB."""
    return markdown_table(sweep, [
        ("offload", lambda p: p["settings"]["offload"]),
        ("forward chunking", lambda p: p["settings"]["forward_chunking"]),
        ("decode chunk", lambda p: p["settings"]["decode_chunk_size"]),
        *[(f"{s} GiB", lambda p, s=s: f"{p['stages'][s]['peak_bytes'] / GiB:.2f}")
          for s in ("image_encoding", "denoising", "decoding")],
        ("peak GiB", lambda p: f"{p['peak_bytes'] / GiB:.2f}"), ("peak stage", "peak_stage"),
    ])


def plan_sweep_plot(sweep: Sequence[dict[str, Any]], title: str):
    """Predicted peak against decode chunk size, one line per offload / forward chunking."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for offload in ("none", "model", "sequential"):
        for chunking in (False, True):
            points = [p for p in sweep if p["settings"]["offload"] == offload
                      and p["settings"]["forward_chunking"] == chunking]
            if not points:
                continue
            ax.plot([p["settings"]["decode_chunk_size"] for p in points],
                    [p["peak_bytes"] / GiB for p in points], marker="o",
                    linestyle="--" if chunking else "-",
                    label=f"offload={offload}" + (", forward chunking" if chunking else ""))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("decode chunk size (frames per VAE call)")
    ax.set_ylabel("predicted peak GiB")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def recommendations_table(model: str, height: int, width: int, num_frames: int,
                          budgets_gib: Sequence[str | float]) -> str:
    """The fastest setting that fits each card size; an impossible budget says why."""
    rows = []
    for budget in budgets_gib:
        try:
            rec = recommend(model, height, width, num_frames, f"{budget}GiB")
            rows.append({**rec["overrides"], "budget": budget,
                         "peak": f"{rec['peak_bytes'] / GiB:.2f}"})
        except ConfigError as e:  # names the smallest peak achievable
            rows.append({"budget": budget, "peak": str(e)})
    return markdown_table(rows, [
        ("card GiB", "budget"), ("offload", "offload"), ("forward chunking", "forward_chunking"),
        ("decode chunk", "decode_chunk_size"), ("predicted peak GiB", "peak"),
    ])


# interpolation (03_interpolation) ------------------------------------------------------------

def interpolation_scores_plot(rows: Sequence[dict[str, Any]], methods: Sequence[str]):
    """PSNR and seconds per frame of each method on each clip (rows of `interpolate.compare`).

    PSNR bars start at 0 dB (a bar's length is its value); the legend sits below the plots,
    where it covers no bar."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["clip"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        mine = [next(r for r in rows if r["clip"] == n and r["method"] == method) for n in names]
        x = np.arange(len(names)) + k * width
        axes[0].bar(x, [r["psnr"] for r in mine], width, label=method)
        axes[1].bar(x, [r["seconds_per_frame"] for r in mine], width, label=method)
    for ax, label in zip(axes, ["PSNR (dB), higher is better", "seconds per frame (log)"]):
        ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
        ax.set_title(label)
    axes[0].set_ylim(0, max(r["psnr"] for r in rows) * 1.08)
    axes[1].set_yscale("log")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncols=len(methods), fontsize=8)
    return fig


def restored_frames_plot(rows: Sequence[dict[str, Any]], index: int):
    """One restored frame of one clip per method (rows of `compare(..., keep_frames=True)` for
    that clip), above its error against the truth (4x amplified)."""
    import matplotlib.pyplot as plt

    truth = rows[0]["truth"][1::2][index]
    fig, axes = plt.subplots(2, len(rows) + 1, figsize=(3 * (len(rows) + 1), 4.5))
    axes[0, 0].imshow(truth)
    axes[0, 0].set_title(f"truth ({rows[0]['clip']})")
    axes[1, 0].axis("off")
    for k, row in enumerate(rows, 1):
        made = row["frames"][1::2][index]
        error = np.clip(np.abs(made.astype(int) - truth).mean(axis=2) * 4, 0, 255)
        axes[0, k].imshow(made)
        axes[0, k].set_title(f"{row['method']}: {row['psnr']:.2f} dB")
        axes[1, k].imshow(error, cmap="magma", vmin=0, vmax=255)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def interpolated_strip_plot(strip: np.ndarray, factor: int):
    """Frames of one interpolated interval, inputs and in-betweens labelled."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(strip), figsize=(2.6 * len(strip), 2.4))
    for k, (ax, frame) in enumerate(zip(axes, strip)):
        ax.imshow(frame)
        ax.set_title("input" if k % factor == 0 else f"t = {k}/{factor}")
        ax.axis("off")
    fig.tight_layout()
    return fig
