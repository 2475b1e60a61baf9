"""The committed notebooks: stored clean, parameterised, and runnable headless with every
parameter set, through `svlab report -p` and papermill's own command line. nbval runs them
at their defaults (`make test`: --nbval-lax over notebooks/); tests/browser runs them in
JupyterLab.

Every notebook under notebooks/ is picked up: a new one needs an entry in NON_DEFAULT (the
test says so), naming a value for each of its parameters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from svlab.face.reports import notebook_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SVLAB = [str(Path(sys.executable).with_name("svlab"))]  # the venv's command line

# A value for every parameter of every notebook, other than the default where another value
# runs here (02's `model` has only `tiny` on a CPU). "IMAGE" and "OUT" are filled in per test.
NON_DEFAULT: dict[str, dict] = {
    "01_generate": {"image": "IMAGE", "prompt": "a calm sea", "profile": "cpu-tiny",
                    "model": "tiny", "num_frames": 4, "num_inference_steps": 2, "height": 48,
                    "width": 80, "fps": 8, "seed": 3, "motion_bucket_id": 60,
                    "decode_chunk_size": 2, "interpolation": "repeat",
                    "interpolation_factor": 2, "out_dir": "OUT"},
    "02_vram_profile": {"model": "tiny", "sizes": "32x48", "num_frames": 2,
                        "decode_chunks": "2,1", "dtype": "fp32", "device": "cpu", "reps": 2,
                        "plan_model": "svd", "plan_height": 320, "plan_width": 512,
                        "plan_frames": 14, "budgets_gib": "6,12",
                        "fit_models": "cogvideox-5b-i2v", "fit_budgets_gib": "24,80"},
    "03_interpolation": {"clips": "carphone", "methods": "blend,flow", "num_frames": 5,
                         "show_clip": "carphone", "show_frame": 0, "factor": 3},
    "04_sweep": {"sweep": "SWEEP", "out_dir": "OUT", "profile": "cpu-tiny", "model": "tiny",
                 "num_frames": 3, "num_inference_steps": 1, "seeds": 1,
                 "motion_bucket_ids": "1,200", "metrics": "motion_px,flicker",
                 "compare_by": "motion_bucket_id"},
}


ALL = [pytest.param(nb, id=nb.stem) for nb in NOTEBOOKS]


def parameters_cell(path: Path):
    nb = nbformat.read(str(path), as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return cell


def assigned_names(source: str) -> list[str]:
    """The names a parameters cell assigns, as Python reads it."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def values_for(path: Path, tmp_path: Path) -> dict:
    if path.stem not in NON_DEFAULT:
        pytest.fail(f"add a value for each parameter of {path.name} to NON_DEFAULT")
    values = dict(NON_DEFAULT[path.stem])
    if values.get("image") == "IMAGE":
        values["image"] = str(tmp_path / "photo.png")
        Image.new("RGB", (96, 64), (200, 120, 40)).save(values["image"])
    if values.get("sweep") == "SWEEP":  # the same runs as the other values ask of the demo
        values["sweep"] = str(tmp_path / "sweep.yaml")
        Image.new("RGB", (96, 64), (200, 120, 40)).save(tmp_path / "photo.png")
        Path(values["sweep"]).write_text(
            "base: {profile: cpu-tiny, num_frames: 3, num_inference_steps: 1}\n"
            "inputs: [{image: photo.png}]\ngrid: {motion_bucket_id: [1, 200]}\nseeds: 1\n")
    if values.get("out_dir") == "OUT":
        values["out_dir"] = str(tmp_path / "out")
    return values


def test_notebooks_exist():
    assert "01_generate" in [nb.stem for nb in NOTEBOOKS]


@pytest.mark.parametrize("path", ALL)
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


@pytest.mark.parametrize("path", ALL)
def test_papermill_reads_every_parameter(path, caplog, tmp_path):
    """What Python assigns in the parameters cell is what papermill (and so `svlab report`)
    can set, with no "Unable to parse line" warning."""
    names = assigned_names(parameters_cell(path).source)
    with caplog.at_level("WARNING", logger="papermill"):
        declared = notebook_parameters(path)
    assert list(declared) == names
    assert [r.getMessage() for r in caplog.records] == []
    assert set(values_for(path, tmp_path)) == set(names), \
        f"NON_DEFAULT[{path.stem!r}] must name every parameter"


@pytest.mark.parametrize("path", ALL)
def test_papermill_cli_sets_every_parameter(path, tmp_path):
    """papermill's own CLI (`-p NAME VALUE`), preparing the notebook without running it."""
    params = values_for(path, tmp_path)
    executed = tmp_path / path.name
    argv = [sys.executable, "-m", "papermill", str(path), str(executed), "--prepare-only",
            "-k", "python3", "--no-progress-bar"]
    for name, value in params.items():
        argv += ["-p", name, str(value)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nb = nbformat.read(str(executed), as_version=4)
    (injected,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    recorded: dict = {}
    exec(injected.source, recorded)  # the cell papermill added: plain assignments
    assert {name: recorded[name] for name in params} == params  # typed: ints stay ints


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL)
def test_svlab_report_runs_with_every_parameter_set(path, tmp_path):
    """`svlab report -p NAME VALUE` for every parameter, as a researcher types it."""
    params = values_for(path, tmp_path)
    argv = [*SVLAB, "report", str(path), "--out", str(tmp_path / "reports"), "--json"]
    for name, value in params.items():
        argv += ["-p", name, str(value)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = json.loads(proc.stdout)["runs"]
    assert run["status"] == "ok", run["error"]
    assert run["parameters"] == params
    executed = nbformat.read(str(tmp_path / "reports" / run["executed"]), as_version=4)
    assert executed.metadata.papermill.parameters == params
    assert "Unable to parse" not in proc.stderr and "without encryption" not in proc.stderr
    if path.stem == "01_generate":
        check_generate_output(Path(params["out_dir"]), params)
    if path.stem == "02_vram_profile":
        page = (tmp_path / "reports" / run["html"]).read_text(encoding="utf-8")
        assert "<td>32x48</td>" in page and "<strong>svd</strong> parameters" in page
    if path.stem == "04_sweep":
        check_sweep_output(Path(params["out_dir"]), params)


def check_generate_output(out_dir: Path, params: dict):
    """The video and manifest that 01_generate wrote follow the parameters."""
    manifest = json.loads((out_dir / "01_generate.json").read_text())
    for name in ("model", "num_frames", "num_inference_steps", "height", "width", "fps",
                 "seed", "motion_bucket_id", "decode_chunk_size", "interpolation",
                 "interpolation_factor"):
        assert manifest[name] == params[name], name
    factor = params["interpolation_factor"]
    assert manifest["output"]["frames"] == (params["num_frames"] - 1) * factor + 1
    assert (manifest["output"]["width"], manifest["output"]["height"]) == (80, 48)
    assert manifest["engine"] == "model" and manifest["inputs"]["prompt"] == "a calm sea"


def check_sweep_output(out_dir: Path, params: dict):
    """04_sweep's sweep follows the parameters: one seed, two motion buckets, 3 frames."""
    import pandas as pd

    table = pd.read_csv(out_dir / "results.csv")
    assert sorted(table["motion_bucket_id"]) == [1, 200] and set(table["seed"]) == {0}
    assert set(table["status"]) == {"done"} and set(table["frames"]) == {3}
    assert (out_dir / "compare.mp4").is_file() and (out_dir / "compare.png").is_file()


@pytest.mark.slow
def test_changing_only_the_profile_changes_the_run(tmp_path):
    """01_generate at its defaults, then with `-p profile low-vram` alone: every setting not
    given follows the profile. The notebook names `mini`, whose own size, frames and steps come
    before a profile's, so the profile changes what it is about: memory (offload, chunking).
    Both reports sit side by side in one folder."""
    nb = str(ROOT / "notebooks" / "01_generate.ipynb")
    for extra in ([], ["-p", "profile", "low-vram"]):
        proc = subprocess.run([*SVLAB, "report", nb, "--out", "reports", *extra],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    mini = json.loads((tmp_path / "reports/01_generate/01_generate.json").read_text())
    low = json.loads((tmp_path / "reports/01_generate--profile=low-vram/01_generate.json")
                     .read_text())
    for run in (mini, low):
        assert (run["model"], run["width"], run["num_frames"], run["num_inference_steps"],
                run["engine"], run["output"]["frames"]) == ("mini", 64, 8, 10, "model", 8)
    assert (mini["offload"], mini["forward_chunking"]) == ("none", False)
    assert (low["offload"], low["forward_chunking"]) == ("model", True)
    page = (tmp_path / "reports/01_generate/01_generate.html").read_text(encoding="utf-8")
    assert page.count("data:video/mp4;base64,") == 1
    assert page.count('src="data:image/png;base64,') == 2  # frame strip; time and memory
    assert "Generation panel" in page  # the panel, as static text
    assert str(tmp_path) not in page  # paths relative to where the report was made
    assert "reports/01_generate/01_generate.mp4" in page
    index = json.loads((tmp_path / "reports/index.json").read_text())["runs"]
    assert [e["name"] for e in index] == ["01_generate", "01_generate--profile=low-vram"]
