"""The run index: rows from manifests, filters, two writing processes, a deleted video, a
corrupt file (set aside and rebuilt, never lost silently), and recording that never raises."""

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from svlab.core import run_index
from svlab.core.errors import InputError
from svlab.core.manifest import manifest_text


@pytest.fixture
def index(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data" / "runs.sqlite"
    monkeypatch.setenv("SVLAB_RUNS_INDEX", str(path))
    return path


def made(folder: Path, name: str, *, seed=3, model="tiny", created="2026-12-07T10:00:00+00:00",
         record=True) -> Path:
    """A video file with its manifest beside it (as `build_manifest` shapes one), recorded."""
    video = folder / f"{name}.mp4"
    video.write_bytes(b"not really a video")
    manifest = {"model": model, "seed": seed, "num_inference_steps": 2, "use_fp16": False,
                "engine": "model", "model_info": {"model": model}, "created": created,
                "inputs": {"image": {"image": "/in/photo.png"}, "prompt": None},
                "output": {"video": video.name}}
    video.with_suffix(".json").write_text(manifest_text(manifest), encoding="utf-8")
    if record:
        run_index.record(video, manifest)
    return video


def test_a_row_per_video_with_its_settings(index, tmp_path):
    video = made(tmp_path, "a")
    made(tmp_path, "a")  # the same video again replaces its row
    [run] = run_index.find()
    assert (run.video, run.manifest) == (str(video), str(video.with_suffix(".json")))
    assert (run.model, run.engine, run.input, run.status) == ("tiny", "model", "/in/photo.png",
                                                             "done")
    assert run.to_dict()["seed"] == 3 and run.to_dict()["num_inference_steps"] == 2


def test_filters(index, tmp_path):
    made(tmp_path, "old", seed=1, created="2026-12-01T10:00:00+00:00")
    made(tmp_path, "new", seed=3, created="2026-12-07T10:00:00+00:00")
    made(tmp_path, "other", seed=3, model="mini", created="2026-12-07T11:00:00+00:00")
    names = lambda runs: [Path(r.video).stem for r in runs]  # noqa: E731
    assert names(run_index.find()) == ["old", "new", "other"]
    assert names(run_index.find(where={"seed": "3"})) == ["new", "other"]
    assert names(run_index.find(model="tiny", where={"seed": "3"})) == ["new"]
    assert names(run_index.find(since="2026-12-05")) == ["new", "other"]
    assert names(run_index.find(where={"use_fp16": "false", "status": "done"})) == \
        ["old", "new", "other"]
    with pytest.raises(InputError, match="unknown --where key 'colour'.*accepted: .*seed"):
        run_index.find(where={"colour": "red"})
    with pytest.raises(InputError, match="--since 'last week' is not a date; accepted"):
        run_index.find(since="last week")
    with pytest.raises(InputError, match="not KEY=VALUE"):
        run_index.parse_where(["seed"])


def test_a_deleted_video_is_listed_as_missing(index, tmp_path):
    made(tmp_path, "kept")
    made(tmp_path, "gone").unlink()
    assert [(Path(r.video).stem, r.status) for r in run_index.find()] == \
        [("gone", "missing"), ("kept", "done")]
    assert [Path(r.video).stem for r in run_index.find(where={"status": "missing"})] == ["gone"]


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from svlab.core.run_index import record
    folder, name = Path(sys.argv[1]), sys.argv[2]
    for i in range(40):
        video = folder / f"{name}-{i}.mp4"
        video.write_bytes(b"x")
        record(video, {"model": name, "seed": i, "created": "2026-12-07T10:00:00+00:00"})
""")


def test_two_processes_write_at_once(index, tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name],
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    errors = [w.communicate(timeout=60)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0] and errors == ["", ""]  # no warning
    runs = run_index.find()
    assert len(runs) == 80 and {r.model for r in runs} == {"a", "b"}


def test_a_corrupt_index_is_set_aside_and_rebuilt(index, tmp_path, caplog):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    made(outputs, "a")
    index.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(run_index.CorruptIndexError) as refused:
        run_index.find()
    message = str(refused.value)
    [backup] = index.parent.glob("runs.sqlite.corrupt-*")
    assert "\n" not in message and str(backup) in message and "svlab runs --rebuild" in message
    assert backup.read_bytes() == b"this is not sqlite" * 100  # kept, not lost
    assert run_index.find() == []  # a fresh index
    index.write_bytes(b"garbage again" * 100)
    with caplog.at_level(logging.WARNING):
        made(outputs, "b")  # a writer never fails: it warns and records into a fresh index
    assert "not a readable SQLite database" in caplog.text
    assert len(list(index.parent.glob("runs.sqlite.corrupt-*"))) >= 1
    assert run_index.rebuild(outputs) == 2
    assert sorted(Path(r.video).stem for r in run_index.find()) == ["a", "b"]


def test_recording_never_raises(tmp_path, monkeypatch, caplog):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SVLAB_RUNS_INDEX", str(tmp_path / "file" / "runs.sqlite"))
    with caplog.at_level(logging.WARNING):
        made(tmp_path, "a")
    assert "run not recorded in the run index" in caplog.text


def test_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SVLAB_RUNS_INDEX", "off")
    made(tmp_path, "a")
    assert run_index.index_path() is None and run_index.find() == []
    assert not list(tmp_path.glob("*.sqlite"))


def test_default_is_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SVLAB_RUNS_INDEX")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert run_index.index_path() == tmp_path / "svlab" / "runs.sqlite"


def test_metrics_join_their_row(index, tmp_path):
    video = made(tmp_path, "a")
    run_index.record_metrics(video, {"flow_mean": 1.5, "ssim": float("nan")})
    [run] = run_index.find()
    assert run.metrics == {"flow_mean": 1.5, "ssim": None}
