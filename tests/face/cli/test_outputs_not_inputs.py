"""Every command that writes refuses an output that is one of its inputs, by any path (the one
check, `svlab.overlap`), before any work: exit 2, one line, the input unchanged. And the
report command's inputs (parameters, notebooks) are refused in one line when broken."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from svlab.face.cli import main
from svlab.core.overlap import refuse_overlap, same_path
from svlab.core.errors import InputError

TINY = ["--model", "fallback", "--profile", "cpu-tiny", "--frames", "2"]


@pytest.fixture
def files(tmp_path):
    image = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (10, 100, 200)).save(image)
    assert main(["fallback", "--image", str(image), "--out", str(tmp_path / "clip.mp4"),
                 "--profile", "cpu-tiny", "--frames", "2"]) == 0
    (tmp_path / "cfg.json").write_text(json.dumps({"seed": 3}))
    (tmp_path / "board.json").write_text(json.dumps({"scenes": [{"text": "a"}]}))
    return tmp_path


def _refused_unchanged(argv, files, capsys, *guarded):
    before = {p: p.read_bytes() for p in guarded}
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is also an input" in err, err
    assert {p: p.read_bytes() for p in guarded} == before


def test_generate_config_file_is_not_its_manifest(files, capsys):
    _refused_unchanged(["generate", "--image", str(files / "photo.png"), "--config",
                        str(files / "cfg.json"), "--out", str(files / "cfg.mp4"), *TINY],
                       files, capsys, files / "cfg.json")


def test_story_board_is_not_its_manifest(files, capsys):
    _refused_unchanged(["story", str(files / "board.json"), "--out", str(files / "board.mp4")],
                       files, capsys, files / "board.json")


def test_interpolate_and_concat_do_not_write_over_their_video(files, capsys):
    clip = files / "clip.mp4"
    _refused_unchanged(["interpolate", str(clip), "--factor", "2", "--out", str(clip)], files,
                       capsys, clip)
    link = files / "sub" / "link.mp4"
    link.parent.mkdir()
    link.symlink_to(clip)
    _refused_unchanged(["concat", str(clip), str(clip), "--out", str(link)], files, capsys,
                       clip)


def test_fallback_through_a_relative_path_and_a_hard_link(files, capsys, monkeypatch):
    monkeypatch.chdir(files / "..")
    relative = Path(files.name) / "." / "clip.mp4"
    _refused_unchanged(["fallback", "--image", str(files / "photo.png"), "--config",
                        str(files / "clip.json"), "--out", str(relative), *TINY[2:]],
                       files, capsys, files / "clip.mp4", files / "clip.json")
    hard = files / "hard.json"
    os.link(files / "cfg.json", hard)
    _refused_unchanged(["generate", "--image", str(files / "photo.png"), "--config",
                        str(files / "cfg.json"), "--out", str(files / "hard.mp4"), *TINY],
                       files, capsys, files / "cfg.json")


def test_rerun_the_recorded_video(files, capsys):
    _refused_unchanged(["rerun", str(files / "clip.json"), "--out", str(files / "clip.mp4")],
                       files, capsys, files / "clip.mp4", files / "clip.json")


def test_the_shared_check(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "s").symlink_to(tmp_path)
    assert same_path(a, tmp_path / "d" / "s" / "a.txt")
    assert same_path(tmp_path / "new", tmp_path / "d" / ".." / "new")  # neither exists yet
    assert not same_path(a, tmp_path / "b.txt")
    with pytest.raises(InputError, match="also an input"):
        refuse_overlap([tmp_path / "d" / "s" / "a.txt"], [a])
    refuse_overlap([tmp_path / "b.txt", None], [a, None])


# -- svlab report --------------------------------------------------------------------------

NOTEBOOK = {"cells": [{"cell_type": "code", "execution_count": None, "id": "p",
                       "metadata": {"tags": ["parameters"]}, "outputs": [],
                       "source": "x = 1"}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.mark.parametrize("content", [b"\x00\xff\xfe binary", b"a: &x [1]\nb: *x\n",
                                     b"[1, 2]", b"\xff" * 10])
def test_report_a_bad_params_file_is_one_line(tmp_path, capsys, content):
    (tmp_path / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    (tmp_path / "p.yaml").write_bytes(content)
    code = main(["report", str(tmp_path / "n.ipynb"), "--params", str(tmp_path / "p.yaml"),
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("content", ["{}", "not json", json.dumps({"cells": 5, "nbformat": 4}),
                                     json.dumps({**NOTEBOOK, "nbformat": 99})])
def test_report_a_notebook_that_is_not_nbformat_is_one_line(tmp_path, capsys, content):
    (tmp_path / "n.ipynb").write_text(content)
    code = main(["report", str(tmp_path / "n.ipynb"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "notebook" in err, err
    assert not (tmp_path / "r").exists()


def test_report_never_writes_over_its_notebook(tmp_path, capsys):
    run_dir = tmp_path / "r" / "n"
    run_dir.mkdir(parents=True)
    (run_dir / "n.ipynb").write_text(json.dumps(NOTEBOOK))
    before = (run_dir / "n.ipynb").read_text()
    code = main(["report", str(run_dir / "n.ipynb"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "is also an input" in err, err
    assert (run_dir / "n.ipynb").read_text() == before
