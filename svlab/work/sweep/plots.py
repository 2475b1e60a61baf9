"""A sweep's table for people: the columns that matter, and metrics against a setting.

    plots.summary(table)                      # varied settings, status, main metrics
    plots.metric_plot(table)                  # e.g. motion against motion_bucket_id, per seed

matplotlib is imported inside; figures are returned, to show with `svlab.face.display.show_figure`.
"""

from __future__ import annotations

import math
from typing import Sequence

from svlab.core.config import setting_names

METRICS = ("motion_px", "smoothness_psnr", "flicker", "fidelity_psnr", "fidelity_ssim",
           "sharpness")
LABELS = {
    "motion_px": "motion (px/frame)", "motion_rel": "motion (share of diagonal)",
    "smoothness_psnr": "smoothness (PSNR dB)", "flicker": "flicker (0-255)",
    "fidelity_psnr": "first-frame PSNR (dB)", "fidelity_ssim": "first-frame SSIM",
    "sharpness": "sharpness (Laplacian var.)", "seconds": "seconds per run",
}


def varied_settings(table) -> list[str]:
    """The table's setting columns: what the sweep varies."""
    names = ("profile", *setting_names())
    return [c for c in table.columns if c in names]


def summary(table, metrics: Sequence[str] = METRICS):
    """The varied settings, input, status, the chosen metrics and seconds, one row a run."""
    inputs = ["input"] if table["input"].nunique() > 1 else []
    columns = [*inputs, *varied_settings(table), "status", *metrics, "seconds", "reason"]
    shown = table[[c for c in columns if c in table.columns]]
    if shown["reason"].isna().all():
        shown = shown.drop(columns="reason")
    return shown.round(3)


def metric_plot(table, metrics: Sequence[str] = METRICS[:4], x: str | None = None,
                hue: str | None = None):
    """One panel per metric against the setting `x` (default: the varied setting with the
    most values, other than seed), a line per value of `hue` (default: seed when it varies).
    Infinite values (a perfect prediction) are left out of the lines."""
    from matplotlib.figure import Figure  # no pyplot: nothing global, any backend

    done = table[table["status"] == "done"]
    varied = varied_settings(table)
    if x is None:
        candidates = [n for n in varied if n != "seed"] or varied or ["seed"]
        x = max(candidates, key=lambda n: done[n].nunique() if n in done else 0)
    if hue is None and "seed" in varied and x != "seed":
        hue = "seed"
    fig = Figure(figsize=(3.2 * len(metrics), 2.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    groups = done.groupby(hue, sort=True) if hue else [(None, done)]
    for ax, metric in zip(axes, metrics):
        for value, rows in groups:
            rows = rows.sort_values(x)
            ys = [v if math.isfinite(v) else math.nan for v in rows[metric].astype(float)]
            ax.plot(rows[x], ys, marker="o", label=f"{hue}={value}" if hue else None)
        ax.set_xlabel(x)
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    if hue:
        axes[0].legend(fontsize="small")
    return fig
