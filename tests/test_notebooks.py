"""The committed notebooks: stored clean, parameterised, and runnable headless with parameters
other than their defaults (papermill's own command line). nbval runs them at their defaults
(`make test`: --nbval-lax over notebooks/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from svlab.reports import notebook_parameters, run_reports

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [nb.stem for nb in NOTEBOOKS]

# Parameters other than the defaults for every notebook: a different size, frame count, method.
# A new notebook needs an entry here.
NON_DEFAULT: dict[str, dict] = {
    "01_generate": {"num_frames": 4, "num_inference_steps": 2, "height": 48, "width": 80,
                    "interpolation": "repeat", "interpolation_factor": 2, "seed": 3},
    "02_vram_profile": {"sizes": "32x48", "num_frames": 2, "decode_chunks": "2,1",
                        "plan_model": "svd", "plan_height": 320, "plan_width": 512,
                        "plan_frames": 14, "budgets_gib": "6,12"},
    "03_interpolation": {"clips": "carphone", "methods": "blend,flow", "num_frames": 5,
                         "show_clip": "carphone", "show_frame": 0, "factor": 3},
    "04_sweep": {"num_frames": 3, "num_inference_steps": 1, "seeds": 1,
                 "motion_bucket_ids": "1,200", "metrics": "motion_px,flicker",
                 "compare_by": "motion_bucket_id"},
}


def test_notebooks_exist():
    assert "01_generate" in IDS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_clean_with_one_parameters_cell(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c for c in code if c.outputs or c.execution_count is not None] == [], \
        f"{path.name} carries outputs: clear them before committing"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert tagged[0].cell_type == "code"
    assert nb.metadata.kernelspec.name == "python3"  # the kernel `make install` registers


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_papermill_cli_runs_with_non_default_parameters(path, tmp_path):
    if path.stem not in NON_DEFAULT:
        pytest.fail(f"add non-default parameters for {path.name} to NON_DEFAULT")
    params = dict(NON_DEFAULT[path.stem])
    if "out_dir" in notebook_parameters(path):
        params["out_dir"] = str(tmp_path / "out")
    executed = tmp_path / path.name
    argv = [sys.executable, "-m", "papermill", str(path), str(executed), "-k", "python3",
            "--cwd", str(tmp_path), "--no-progress-bar"]
    for name, value in params.items():
        argv += ["-p", name, str(value)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]

    nb = nbformat.read(str(executed), as_version=4)
    assert nb.metadata.papermill.parameters == params  # typed: ints stay ints
    (injected,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    recorded: dict = {}
    exec(injected.source, recorded)  # the cell papermill added: plain assignments
    assert {name: recorded[name] for name in params} == params
    if path.stem == "01_generate":
        check_generate_output(tmp_path / "out", params)
    if path.stem == "04_sweep":
        check_sweep_output(tmp_path / "out", params)


def check_generate_output(out_dir: Path, params: dict):
    """The video and manifest that 01_generate wrote follow the parameters."""
    manifest = json.loads((out_dir / "01_generate.json").read_text())
    for name in ("num_frames", "num_inference_steps", "height", "width", "interpolation",
                 "interpolation_factor", "seed"):
        assert manifest[name] == params[name], name
    factor = params["interpolation_factor"]
    assert manifest["output"]["frames"] == (params["num_frames"] - 1) * factor + 1
    assert (manifest["output"]["width"], manifest["output"]["height"]) == (80, 48)
    assert manifest["engine"] == "model"


def check_sweep_output(out_dir: Path, params: dict):
    """04_sweep's sweep follows the parameters: one seed, two motion buckets, 3 frames."""
    import pandas as pd

    table = pd.read_csv(out_dir / "results.csv")
    assert sorted(table["motion_bucket_id"]) == [1, 200] and set(table["seed"]) == {0}
    assert set(table["status"]) == {"done"} and set(table["frames"]) == {3}
    assert (out_dir / "compare.mp4").is_file() and (out_dir / "compare.png").is_file()


@pytest.mark.slow
def test_demo_report_writes_html_with_the_video_and_the_video_itself(tmp_path):
    """`make demo`'s path, on the fallback engine to stay fast."""
    (run,) = run_reports([ROOT / "notebooks" / "01_generate.ipynb"], tmp_path,
                         {"model": "fallback", "num_frames": 3}, cwd=tmp_path)
    assert run.status == "ok", run.error
    assert (tmp_path / "01_generate" / "01_generate.mp4").stat().st_size > 0
    assert (tmp_path / "01_generate" / "01_generate.json").is_file()
    page = (tmp_path / run.html).read_text(encoding="utf-8")
    assert page.count("data:video/mp4;base64,") == 1
    assert page.count('src="data:image/png;base64,') == 2  # frame strip; time and memory
    assert '<code>num_frames</code></td><td style="text-align:left">3</td>' in page
    assert "01_generate" in (tmp_path / "index.html").read_text(encoding="utf-8")
