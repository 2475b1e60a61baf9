"""`svlab generate`, in-process and once as a real command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from svlab.face.cli import main
from svlab.run.clip import unload_models


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    unload_models()


def test_generate_json(capsys, photo_file, tmp_path):
    out = tmp_path / "clip.mp4"
    code = main(["generate", "--image", str(photo_file), "--profile", "cpu-tiny", "--frames",
                 "4", "--seed", "3", "--steps", "2", "--decode-chunk", "2", "--out", str(out),
                 "--json"])
    stdout = capsys.readouterr().out
    assert code == 0
    report = json.loads(stdout)  # exactly one JSON object
    m = report["manifest"]
    assert report["video"] == str(out) and out.is_file()
    assert (m["num_frames"], m["seed"], m["num_inference_steps"], m["decode_chunk_size"]) == \
        (4, 3, 2, 2)
    assert m == json.loads(out.with_suffix(".json").read_text())


def test_generate_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--help"])
    help_text = capsys.readouterr().out
    assert exit_.value.code == 0
    for flag in ("--model", "--profile", "--seed", "--steps", "--height", "--width", "--frames",
                 "--fps", "--decode-chunk"):
        assert flag in help_text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--image", "missing.png"], "image file not found: missing.png"),
        (["--image", "{photo}", "--height", "100"], "height=100 cannot be taken by the model"),
        (["--image", "{photo}", "--profile", "fast"], "unknown profile 'fast'"),
        (["--image", "{photo}", "--offload", "gpu"], "unknown offload 'gpu'"),
        (["--image", "{photo}", "--frames", "x"], "invalid int value: 'x'"),
        (["--out", "{out}"], "nothing to generate from: give --image, --prompt or both"),
        (["--image", "{photo}", "--model", "{missing}"], "does not exist"),
        (["--image", "{photo}", "--noise-aug", "nan"], "must be a finite number"),
        (["--image", "{photo}", "--max-guidance", "inf"], "must be a finite number"),
        (["--image", "{photo}", "--seed", "100000000000000000000000"], "out of range"),
        (["--image", "{photo}", "--height", "100000000000000000000"], "out of range"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, photo_file, tmp_path, argv, message):
    out = tmp_path / "out" / "x.mp4"
    argv = [a.format(photo=photo_file, out=out, missing=tmp_path / "no-model") for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(out)]
    assert _exit_code(["generate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_a_named_model_falls_back_only_with_allow_fallback(capsys, photo_file, tmp_path):
    out = tmp_path / "x.mp4"
    code = main(["generate", "--image", str(photo_file), "--profile", "cpu-tiny", "--model",
                 str(tmp_path / "no-model"), "--allow-fallback", "--out", str(out), "--json"])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert manifest["engine"] == "fallback" and "no-model" in manifest["fallback_reason"]


def test_image_and_prompt_together(capsys, photo_file, tmp_path):
    out = tmp_path / "x.mp4"
    code = main(["generate", "--image", str(photo_file), "--prompt", "a fox", "--profile",
                 "cpu-tiny", "--model", "fallback", "--out", str(out), "--json"])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert manifest["inputs"]["prompt"] == "a fox"
    assert manifest["inputs"]["image"]["image"] == str(photo_file)


def _exit_code(argv):
    """main's return value, or the status of the SystemExit argparse raises for bad flags."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def test_real_command_exit_status(photo_file, tmp_path):
    svlab = Path(sys.executable).with_name("svlab")
    out = tmp_path / "x.mp4"
    bad = subprocess.run([str(svlab), "generate", "--image", str(photo_file), "--width", "30",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("svlab generate: error: width=30")
    assert "Traceback" not in bad.stderr and not out.exists()
    good = subprocess.run([str(svlab), "generate", "--image", str(photo_file), "--model",
                           "fallback", "--profile", "cpu-tiny", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["manifest"]["engine"] == "fallback"


def test_frames_that_cannot_fit_in_memory_are_refused_before_any_work(capsys, photo_file,
                                                                      tmp_path):
    out = tmp_path / "x.mp4"
    argv = ["generate", "--image", str(photo_file), "--model", "fallback", "--frames", "1024",
            "--width", "4096", "--height", "4096", "--interpolation", "blend",
            "--interpolation-factor", "16", "--out", str(out)]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert "GiB of memory for their frames alone" in err and len(err.splitlines()) == 1
    assert not out.exists()
