"""`svlab story BOARD.yaml --out film.mp4`: in-process through the CLI's main()."""

from __future__ import annotations

import json

import pytest

from svlab.face.cli import main
from svlab.media import probe
from svlab.media.ffmpeg import run_ffmpeg

FAST = ["--profile", "cpu-tiny", "--model", "fallback", "--width", "64", "--height", "64",
        "--frames", "6"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def board(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text("title: 森林探险\nsettings: {seed: 11}\nscenes:\n  - 清晨的森林\n"
                    "  - text: 一只狐狸\n    duration: 0.5\n", encoding="utf-8")
    return path


def test_story_json(capsys, tmp_path, board):
    code, out, err = run(capsys, "story", board, "--out", tmp_path / "film.mp4", *FAST,
                         "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["video"] == str(tmp_path / "film.mp4")
    assert report["captions"] == {"vtt": "film.vtt", "srt": "film.srt"}
    manifest = report["manifest"]
    assert manifest["seed"] == 11 and manifest["model"] == "fallback"
    assert [s["frames"] for s in manifest["scenes"]] == [6, 3]
    assert probe(tmp_path / "film.mp4")["frames"] == 9


def test_flags_override_the_storyboard(capsys, tmp_path, board):
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "anoisesrc=amplitude=0.2", "-t", "0.5",
                tmp_path / "m.wav"])
    code, out, err = run(capsys, "story", board, "--out", tmp_path / "f.mp4", *FAST,
                         "--seed", "2", "--subtitles", "burn", "--music", tmp_path / "m.wav",
                         "--text2image", tmp_path / "no-model")
    assert code == 0, err
    assert "f.mp4: 2 scenes, 9 frames at 6 fps" in out
    manifest = json.loads((tmp_path / "f.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 2 and manifest["storyboard"]["subtitles"] == "burn"
    assert manifest["storyboard"]["music"] == "m.wav" and probe(tmp_path / "f.mp4")["has_audio"]
    keyframe = manifest["scenes"][0]["keyframe"]
    assert keyframe["source"] == "placeholder" and "no-model" in keyframe["reason"]


@pytest.mark.slow
def test_story_with_the_tiny_model(capsys, tmp_path, board):
    """The real (tiny, random-weight) SVD pipeline for every scene, one model load."""
    code, out, err = run(capsys, "story", board, "--out", tmp_path / "t.mp4",
                         "--profile", "cpu-tiny", "--frames", "4", "--steps", "1", "--json")
    assert code == 0, err
    manifest = json.loads(out)["manifest"]
    assert manifest["engine"] == "model", manifest["fallback_reason"]
    assert [s["engine"] for s in manifest["scenes"]] == ["model", "model"]
    assert probe(tmp_path / "t.mp4")["frames"] == 4 + 3


@pytest.mark.parametrize("content, message", [
    ("scenes: []\n", "'scenes' must be a non-empty list"),
    ("scenes: [a]\nsettings: {num_frames: 0}\n", "num_frames=0 is out of range"),
    ("scenes:\n  - {text: a, image: nope.png}\n", "scene 1: image 'nope.png' does not exist"),
    ("scenes: [a\n", "is not valid"),
])
def test_bad_storyboards(capsys, tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    code, out, err = run(capsys, "story", path, "--out", tmp_path / "x.mp4", *FAST)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("svlab story: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_missing_storyboard_and_bad_flag(capsys, tmp_path):
    code, _, err = run(capsys, "story", tmp_path / "none.yaml", "--out", tmp_path / "x.mp4")
    assert code == 2 and "storyboard file not found" in err
    code, _, err = run(capsys, "story", tmp_path / "none.yaml", "--out", tmp_path / "x.mp4",
                       "--music", tmp_path / "none.wav")
    assert code == 2


@pytest.mark.parametrize("text, message", [
    ("settings: [1]\nscenes: [a]\n", "settings must be a mapping"),
    ("scenes:\n  - {text: a, image: \"x\\0y.png\"}\n", "must be a file path"),
    ("scenes: [a]\nsettings: {noise_aug_strength: .nan}\n", "must be a finite number"),
])
def test_hostile_storyboards_are_one_line_errors(capsys, tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "story", path, "--out", tmp_path / "x.mp4", *FAST)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
