"""`svlab runs`: a real generation shows up; filters, JSON, and one-line refusals."""

import json
from pathlib import Path

import pytest

import svlab
from svlab.face.cli import main
from svlab.run.clip import unload_models


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("SVLAB_RUNS_INDEX", str(path))
    return path


def runs_json(capsys, *argv) -> list[dict]:
    assert main(["runs", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)["runs"]


def test_a_generation_is_listed(index, capsys, photo_file, tmp_path):
    out = tmp_path / "clips" / "clip.mp4"
    try:
        assert main(["generate", "--image", str(photo_file), "--model", "tiny", "--profile",
                     "cpu-tiny", "--frames", "4", "--seed", "3", "--steps", "2", "--out",
                     str(out)]) == 0
    finally:
        unload_models()
    capsys.readouterr()
    [run] = runs_json(capsys, "--model", "tiny", "--where", "seed=3", "--since", "2000-01-01")
    assert (run["video"], run["manifest"]) == (str(out), str(out.with_suffix(".json")))
    assert (run["seed"], run["num_inference_steps"], run["status"]) == (3, 2, "done")
    assert run["input"] == str(photo_file)
    assert runs_json(capsys, "--where", "seed=4") == []
    assert runs_json(capsys, "--model", "mini") == []
    frame = svlab.runs(where={"seed": 3})
    assert list(frame["video"]) == [str(out)] and frame.loc[0, "motion_bucket_id"] == 127

    out.unlink()  # noticed, not an error
    assert [r["status"] for r in runs_json(capsys)] == ["missing"]
    assert main(["runs"]) == 0
    assert "missing" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--where", "colour=red"], "unknown --where key 'colour'"),
    (["--where", "seed"], "--where 'seed' is not KEY=VALUE"),
    (["--since", "yesterday"], "--since 'yesterday' is not a date; accepted: an ISO date"),
    (["--rebuild", "no-such-folder"], "--rebuild 'no-such-folder' is not a folder"),
])
def test_bad_input_is_one_line(index, capsys, argv, message):
    assert main(["runs", "--json", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err
    assert captured.err.count("\n") == 1


def test_a_corrupt_index_is_refused_then_rebuilt(index, capsys, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"x")
    (videos / "a.json").write_text(json.dumps({"model": "tiny", "seed": 5,
                                               "output": {"video": "a.mp4"}}))
    index.write_bytes(b"\0garbage" * 512)
    assert main(["runs", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable SQLite database" in err
    assert "svlab runs --rebuild DIR" in err and list(tmp_path.glob("runs.sqlite.corrupt-*"))
    [run] = runs_json(capsys, "--rebuild", str(videos))
    assert (run["video"], run["seed"]) == (str(videos / "a.mp4"), 5)


def test_a_sweeps_runs_are_listed_with_their_metrics(index, capsys, photo_file, tmp_path):
    svlab.sweep({"base": {"profile": "cpu-tiny", "model": "fallback", "num_frames": 3},
                 "inputs": [{"image": str(photo_file)}], "grid": {"seed": [1, 2]}},
                tmp_path / "s", progress=False)
    found = runs_json(capsys, "--where", "model=fallback")
    assert sorted(r["seed"] for r in found) == [1, 2]
    assert all(Path(r["video"]).parent == tmp_path / "s" / "runs" for r in found)
    assert all(r["metrics"] and r["metrics"]["frames"] == 3 and "motion_px" in r["metrics"]
               for r in found)
