"""Docs that stay true: every setting and every model in docs/configuration.md, every layer
folder and every family in docs/architecture.md, every family in the README and pyproject, one
version number, and the README's Python and command-line examples run as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svlab
from svlab.core.config import setting_names

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
FAMILY_NAMES = {"svd": "Stable Video Diffusion", "ltx": "LTX-Video", "wan": "Wan",
                "cogvideox": "CogVideoX", "ltx2": "LTX-2", "hunyuanvideo15": "HunyuanVideo 1.5"}


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The rows of the first table under `## heading`, as lists of cells."""
    section = text.split(f"## {heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("## "):
            break
        if line.startswith("|") and not set(line) <= set("|- "):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header


def test_every_setting_is_documented_in_configuration_md():
    named = {name.strip(" `") for row in table_rows(CONFIGURATION, "Settings")
             for name in row[0].split(",")}
    assert sorted(set(setting_names()) - named) == []


def test_every_model_has_its_defaults_in_configuration_md():
    rows = {row[0].strip("`"): row for row in table_rows(CONFIGURATION, "Defaults per model")}
    for spec in svlab.list_specs():
        assert spec.id in rows, spec.id
        assert rows[spec.id][2].startswith(f"{spec.height} x {spec.width}"), spec.id
        assert rows[spec.id][3].startswith(str(spec.num_frames)), spec.id


def test_a_missing_setting_fails_the_check():
    doctored = CONFIGURATION.replace("| seed |", "| sead |")
    named = {name.strip(" `") for row in table_rows(doctored, "Settings")
             for name in row[0].split(",")}
    assert "seed" in set(setting_names()) - named


def test_the_architecture_names_every_layer_folder_and_family():
    folders = [p.name for p in (ROOT / "svlab").iterdir() if (p / "__init__.py").is_file()]
    assert len(folders) >= 8
    for folder in folders:
        assert f"svlab/{folder}/" in ARCHITECTURE, folder
    for family, name in FAMILY_NAMES.items():
        assert name in ARCHITECTURE, name


def test_the_readme_and_pyproject_name_every_family():
    families = {spec.family for spec in svlab.list_specs()}
    assert families <= set(FAMILY_NAMES), families - set(FAMILY_NAMES)
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    for family in families:
        assert FAMILY_NAMES[family] in " ".join(README.split("\n## ")[0].split()), family
        assert FAMILY_NAMES[family] in description, family


def test_one_version_number():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["dynamic"]["version"] == {"attr": "svlab.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", svlab.__version__)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


@pytest.fixture
def workdir(tmp_path, photo, monkeypatch):
    """A folder with the photo.jpg the README's examples use, and the sweep file they name."""
    Image.fromarray(np.ascontiguousarray(photo)).save(tmp_path / "photo.jpg")
    (tmp_path / "motion.yaml").write_text(
        "base: {profile: cpu-tiny, num_inference_steps: 2, num_frames: 4}\n"
        "inputs: [{image: photo.jpg}]\n"
        "grid: {seed: [1, 2], motion_bucket_id: [1, 255]}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(workdir):
    (code,) = blocks("python")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.frames.dtype == np.uint8 and result.frames.shape[0] == 8
    assert (workdir / "clip.mp4").is_file() and (workdir / "clip.json").is_file()


@pytest.mark.slow
def test_the_readme_command_line_examples_run_as_written(workdir):
    svlab_bin = Path(sys.executable).with_name("svlab")
    lines = [line.split("  #")[0].strip() for block in blocks("bash") for line in
             block.splitlines() if line.startswith(".venv/bin/svlab")]
    assert len(lines) >= 6
    ran = 0
    for line in lines:
        argv = shlex.split(line)
        if "--ray" in argv:
            continue  # a Ray cluster: tests/work/distributed runs the same sweep on one
        if "<key>.json" in line:
            key = next((workdir / "sweeps" / "motion" / "runs").glob("*.json"))
            argv = [str(key) if a.endswith("<key>.json") else a for a in argv]
        argv[0] = str(svlab_bin)
        done = subprocess.run(argv, capture_output=True, text=True, cwd=workdir,
                              env={**os.environ, "TQDM_DISABLE": "1"})
        assert done.returncode == 0, (line, done.stderr[-2000:])
        ran += 1
    assert ran == len(lines) - 1
