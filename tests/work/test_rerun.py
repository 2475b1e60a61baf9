"""`svlab rerun`: a video made again from its manifest alone, checked bit for bit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import svlab
from svlab.face.cli import main
from svlab.media import write_video

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


@pytest.fixture(scope="module")
def made(tmp_path_factory, photo):
    """A tiny-model run and a fallback run, made once for the module."""
    folder = tmp_path_factory.mktemp("rerun")
    image = folder / "photo.png"
    Image.fromarray(photo).save(image)
    videos = {}
    for model in ("tiny", "fallback"):
        out = folder / model / "clip.mp4"
        svlab.generate(image=str(image), config={**TINY, "model": model, "seed": 5}, out=out)
        videos[model] = out
    yield folder, image, videos
    svlab.unload_models()


@pytest.mark.parametrize("model", ["tiny", "fallback"])
def test_a_run_reproduces_bit_identically_on_the_cpu(made, model, capsys):
    _, _, videos = made
    code = main(["rerun", str(videos[model].with_suffix(".json")), "--check", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["check"] == {"identical": True, "max_difference": 0, "psnr": "inf",
                               "frames": 4, "recorded_frames": 4,
                               "audio_identical": None, "audio_max_difference": None}
    assert report["video"] is None  # only checked: nothing left behind
    assert sorted(p.name for p in videos[model].parent.iterdir()) == ["clip.json", "clip.mp4"]


def test_rerun_writes_the_new_video_with_its_manifest(made, tmp_path, capsys):
    _, _, videos = made
    out = tmp_path / "again.mp4"
    assert main(["rerun", str(videos["fallback"].with_suffix(".json")), "--out", str(out)]) == 0
    assert out.is_file() and json.loads(out.with_suffix(".json").read_text())["model"] == \
        "fallback"
    assert f"{out}: made again from" in capsys.readouterr().out


def test_a_changed_or_missing_input_is_refused_naming_the_difference(made, tmp_path, capsys,
                                                                     photo):
    folder, image, videos = made
    manifest = videos["tiny"].with_suffix(".json")
    changed = photo.copy()
    changed[10, 10] = (0, 0, 0)
    Image.fromarray(changed).save(tmp_path / "changed.png")
    assert main(["rerun", str(manifest), "--check", "--image",
                 str(tmp_path / "changed.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "differs from the one the manifest recorded: its pixels hash to" in err
    assert "the manifest says" in err and "(128x96)" in err

    moved = tmp_path / "moved.png"
    shutil.move(image, moved)
    try:
        assert main(["rerun", str(manifest), "--check"]) == 2
        assert f"the manifest's input image {image} is missing" in capsys.readouterr().err
        Image.open(moved).save(tmp_path / "resaved.png", optimize=True, compress_level=1)
        assert main(["rerun", str(manifest), "--check", "--image",
                     str(tmp_path / "resaved.png")]) == 0  # same pixels, other bytes
        out = capsys.readouterr().out
        assert "identical" in out and "differs byte for byte" in out
    finally:
        shutil.move(moved, image)


def test_different_frames_exit_1_with_the_difference(made, tmp_path, capsys):
    _, _, videos = made
    copy = tmp_path / "clip.mp4"
    shutil.copy(videos["fallback"].with_suffix(".json"), copy.with_suffix(".json"))
    write_video(np.full((4, 64, 64, 3), 90, np.uint8), copy, 6)  # another recording
    assert main(["rerun", str(copy.with_suffix(".json")), "--check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("different: max difference ") and "PSNR" in out


def test_a_manifest_that_is_not_one_is_refused(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    assert main(["rerun", str(tmp_path / "x.json")]) == 2
    assert "is not an svlab video manifest" in capsys.readouterr().err
    assert main(["rerun", str(tmp_path / "nope.json")]) == 2
    assert "manifest not found" in capsys.readouterr().err
