"""`svlab sweep` on the command line: a run with --json, --dry-run with the planner's peaks,
and every mistake in a sweep file refused with exit 2 and one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from svlab.face.cli import main
from svlab.run.clip import unload_models

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


@pytest.fixture(autouse=True, scope="module")
def _fresh_cache():
    yield
    unload_models()


@pytest.fixture
def sweep_file(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "photo.png")

    def write(**sections):
        path = tmp_path / "sweep.yaml"
        data = {"base": TINY, "inputs": [{"image": "photo.png"}], **sections}
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path
    return write


def test_sweep_json_then_dry_run_counts_what_is_done(sweep_file, tmp_path, capsys,
                                                     monkeypatch):
    path = sweep_file(runs=[{"model": "tiny"}, {"model": "fallback"}])
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs"], report["done"], report["failed"]) == (2, 2, 0)
    assert [r["model"] for r in report["rows"]] == ["tiny", "fallback"]
    assert report["rows"][0]["video"].startswith("runs/")

    more = sweep_file(runs=[{"model": "tiny"}, {"model": "fallback"}], seeds=[42, 7])
    assert main(["sweep", str(more), "--out", str(out), "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert (dry["total"], dry["done"], dry["pending"]) == (4, 2, 2)  # seed 42 is the default
    peaks = {p["settings"]["model"]: p for p in dry["peaks"]}
    assert peaks["tiny"]["runs"] == 2 and peaks["tiny"]["peak_bytes"] > 0
    assert peaks["tiny"]["fits"] is True and peaks["tiny"]["budget_source"] == "host memory"
    assert peaks["fallback"]["peak_bytes"] is None and "fallback engine" in \
        peaks["fallback"]["note"]
    assert len(list((out / "runs").glob("*.mp4"))) == 2  # a dry run makes nothing

    monkeypatch.setenv("SVLAB_VRAM", "1MiB")
    assert main(["sweep", str(more), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"4 runs in {out}: 2 done, 0 failed before, 2 to make")
    assert "of 1.0 MiB (SVLAB_VRAM) WILL NOT FIT" in text


def test_failed_runs_give_exit_1_and_are_listed(sweep_file, tmp_path, capsys):
    path = sweep_file(runs=[{"model": "svd"}, {"model": "fallback"}])
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 1
    out = capsys.readouterr().out
    assert "2 runs: 1 done, 1 failed" in out and "no weights for model 'svd'" in out


@pytest.mark.parametrize("sections, message", [
    ({"grid": {"sead": [1]}}, "grid: unknown setting 'sead' (did you mean 'seed'?)"),
    ({"grid": {"motion_bucket_id": [5000]}},
     "grid: motion_bucket_id=5000 is out of range; accepted: from 0 to 1023"),
    ({"grid": {"seed": []}}, "grid: seed has no values; give at least one"),
    ({"inputs": [{"image": "gone.png"}]}, "inputs[0]: image not found: "),
    ({"grid": {"seed": list(range(2000)), "fps": list(range(1, 11))}},
     "the sweep makes 20,000 runs, more than the 10,000 allowed by default; to run them all "
     "pass --max-runs 20000"),
])
def test_mistakes_exit_2_with_one_line(sweep_file, tmp_path, capsys, sections, message):
    path = sweep_file(**sections)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("svlab sweep: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before anything was made


def test_an_explicit_max_runs_passes_the_count(sweep_file, tmp_path, capsys):
    path = sweep_file(grid={"seed": list(range(30))})
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--max-runs", "20"]) == 2
    assert "more than the 20 allowed by max_runs" in capsys.readouterr().err


def test_the_real_command_refuses_a_bad_sweep_at_once(sweep_file, tmp_path):
    svlab = Path(sys.executable).with_name("svlab")
    proc = subprocess.run([str(svlab), "sweep", str(sweep_file(grid={"seed": [-1]})), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "svlab sweep: error: grid: seed=-1 is out of range; accepted: from 0 " \
                          f"to {2**63 - 1}\n"
    helped = subprocess.run([str(svlab), "sweep", "--help"], capture_output=True, text=True)
    for flag in ("--out", "--dry-run", "--max-runs", "--json", "--allow-fallback"):
        assert flag in helped.stdout


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--ray"], "running on Ray needs Ray installed: pip install 'svlab[ray]'"),
])
def test_ray_flags_mistakes_exit_2_with_one_line(sweep_file, tmp_path, capsys, monkeypatch,
                                                 flags, message):
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    assert main(["sweep", str(sweep_file(seeds=2)), "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "o").exists()
