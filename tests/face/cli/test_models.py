"""`svlab models` and `svlab tiny-model`, in-process and once as a real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from svlab.face.cli import main


@pytest.fixture(autouse=True)
def empty_stores(tmp_path, monkeypatch):
    monkeypatch.setenv("SVLAB_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("SVLAB_MODEL", raising=False)
    monkeypatch.delenv("SVLAB_ALLOW_DOWNLOAD", raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", ["models", "tiny-model"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "usage: svlab " + command in capsys.readouterr().out


def test_models_json_lists_the_registry_without_weights(capsys, tmp_path):
    code, out, _ = run(capsys, "models", "--json")
    report = json.loads(out)
    rows = {row["id"]: row for row in report["models"]}
    assert code == 0 and list(rows)[:4] == ["svd", "svd-xt", "svd-xt-1-1", "tiny"]
    assert {"ltx-video", "tiny-ltx", "wan2.1-i2v-14b-480p", "wan2.2-i2v-a14b", "tiny-wan",
            "cogvideox-5b-i2v", "tiny-cogvideox"} <= set(rows)
    assert rows["wan2.2-i2v-a14b"]["dtype"] == "bf16" and rows["tiny-wan"]["available"]
    assert rows["svd-xt"]["available"] is False
    assert "stabilityai/stable-video-diffusion-img2vid-xt" in rows["svd-xt"]["reason"]
    assert rows["tiny"]["available"] is True and rows["tiny"]["path"] is None
    assert not (tmp_path / "models" / "tiny").exists()  # listing builds nothing
    assert report["auto"]["model"] == "fallback"
    assert report["hf_cache"] == str(tmp_path / "hf" / "hub")
    # each model's predicted peak at its default settings, from the planner (no weights)
    from svlab.memory import plan_memory

    a14b = rows["wan2.2-i2v-a14b"]
    assert a14b["peak_bytes"] == plan_memory("wan2.2-i2v-a14b", dtype="bf16")["peak_bytes"]
    assert a14b["peak_bytes"] > rows["wan2.2-ti2v-5b"]["peak_bytes"] > 0
    assert set(a14b["params"]) == {"transformer", "transformer_2", "vae", "text_encoder"}


def test_tiny_model_then_models_finds_it(capsys, tmp_path):
    code, out, _ = run(capsys, "tiny-model", str(tmp_path / "models" / "tiny"), "--json")
    assert code == 0 and json.loads(out)["path"] == str(tmp_path / "models" / "tiny")
    assert (tmp_path / "models" / "tiny" / "model_index.json").is_file()
    _, out, _ = run(capsys, "models", "--json", "--no-peaks")
    tiny = {m["id"]: m for m in json.loads(out)["models"]}["tiny"]
    assert tiny["found_in"] == "SVLAB_MODELS_DIR" and tiny["path"].endswith("tiny")


def test_tiny_model_refuses_a_full_folder_as_a_real_command(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    svlab = Path(sys.executable).with_name("svlab")
    done = subprocess.run([str(svlab), "tiny-model", str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("svlab tiny-model: error: ") and done.stderr.count("\n") == 1
    assert "not empty" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
