"""Every model family runs from every front with only its model named, and the fronts agree
on what that means: notebook 01 (papermill, `-p model ID`), `svlab generate --model ID` and a
one-run sweep whose only setting is `model: ID` record the same resolved settings in their
manifests (the profile's `device` aside: the notebook opens on cpu-tiny, the others on
standard, and both run on this CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import svlab
from svlab.core.config import setting_names

ROOT = Path(__file__).resolve().parents[2]
SVLAB = str(Path(sys.executable).with_name("svlab"))
TINY = [spec.id for spec in svlab.list_specs() if spec.id.startswith("tiny")]
COMPARED = [name for name in setting_names() if name != "device"]


def settings(manifest: Path) -> dict:
    recorded = json.loads(manifest.read_text(encoding="utf-8"))
    return {name: recorded.get(name) for name in COMPARED}


def test_every_tiny_family_is_listed():
    families = {svlab.get_spec(model).family for model in TINY}
    assert families == {spec.family for spec in svlab.list_specs()}


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a notebook, a command and a sweep, each loading the model
@pytest.mark.parametrize("model", TINY)
def test_notebook_cli_and_sweep_agree_with_only_the_model_named(model, tmp_path, photo_file):
    notebook_out = tmp_path / "nb"
    notebook_out.mkdir()
    subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "01_generate.ipynb"),
                    str(tmp_path / "01.ipynb"), "-p", "model", model,
                    "-p", "out_dir", str(notebook_out), "--no-progress-bar"],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    from_notebook = settings(notebook_out / "01_generate.json")

    cli = subprocess.run([SVLAB, "generate", "--image", str(photo_file), "--model", model,
                          "--out", str(tmp_path / "cli.mp4")], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    from_cli = settings(tmp_path / "cli.json")

    table = svlab.sweep({"base": {"model": model}, "inputs": [{"image": str(photo_file)}]},
                        tmp_path / "sweep", progress=False)
    assert list(table["status"]) == ["done"], list(table["reason"])
    from_sweep = settings(tmp_path / "sweep" / table["manifest"][0])

    spec = svlab.get_spec(model)
    assert (from_cli["height"], from_cli["width"], from_cli["num_frames"], from_cli["fps"]) == (
        spec.height, spec.width, spec.num_frames, spec.fps)
    assert from_notebook == from_cli == from_sweep
