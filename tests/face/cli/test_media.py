"""`svlab placeholder | fallback | concat | probe`, in-process and once as a real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svlab.face.cli import main
from svlab.media import probe, write_video

TINY = ["--profile", "cpu-tiny"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def clip(path, width=64, shade=0):
    return write_video(np.full((4, 48, width, 3), shade, np.uint8), path, 6)


@pytest.mark.parametrize("command", ["placeholder", "fallback", "concat", "probe"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0 and "usage: svlab " + command in capsys.readouterr().out


def test_placeholder(capsys, tmp_path):
    out = tmp_path / "card.png"
    code, stdout, _ = run(capsys, "placeholder", "制作一段关于森林探险的短视频", "--width", "320",
                          "--height", "180", "--color", "10,60,30", "--out", str(out), "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["path"] == str(out) and report["font"].endswith(".ttc")
    image = Image.open(out)
    assert image.size == (320, 180) and image.getpixel((0, 0)) == (10, 60, 30)


def test_fallback_writes_video_and_manifest(capsys, tmp_path):
    out = tmp_path / "made" / "f.mp4"  # the folder is created
    code, stdout, _ = run(capsys, "fallback", "--text", "森林", *TINY, "--frames", "5",
                          "--seed", "3", "--out", str(out), "--json")
    assert code == 0
    report = json.loads(stdout)
    manifest = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["manifest"] == manifest
    assert manifest["engine"] == "fallback" and manifest["num_frames"] == 5
    assert manifest["seed"] == 3 and manifest["stages"]["fallback"]["seconds"] > 0
    assert manifest["inputs"]["text"] == "森林"
    info = probe(out)
    assert (info["frames"], info["width"], info["height"], info["fps"]) == (5, 64, 64, 6.0)
    assert manifest["output"]["frames"] == 5 and manifest["output"]["codec"] == "h264"


def test_fallback_with_an_image(capsys, tmp_path):
    Image.new("RGB", (80, 60), (200, 100, 50)).save(tmp_path / "in.png")
    code, stdout, _ = run(capsys, "fallback", "--image", str(tmp_path / "in.png"), *TINY,
                          "--out", str(tmp_path / "f.mp4"))
    assert code == 0 and "8 frames 64x64" in stdout


def test_concat_and_probe(capsys, tmp_path):
    a, b = clip(tmp_path / "a.mp4"), clip(tmp_path / "b.mp4", shade=200)
    code, stdout, _ = run(capsys, "concat", str(a), str(b), "--out", str(tmp_path / "ab.mp4"),
                          "--json")
    assert code == 0
    assert json.loads(stdout)["method"] == "copy"
    code, stdout, _ = run(capsys, "probe", str(tmp_path / "ab.mp4"), "--json")
    facts = json.loads(stdout)
    assert code == 0 and (facts["frames"], facts["codec"]) == (8, "h264")
    code, stdout, _ = run(capsys, "concat", str(a), str(b), "--crossfade", "0.25",
                          "--out", str(tmp_path / "x.mp4"))
    assert code == 0 and "reencode (crossfade)" in stdout
    code, stdout, _ = run(capsys, "probe", str(tmp_path / "x.mp4"))
    assert code == 0 and "h264 yuv420p 64x48" in stdout


@pytest.mark.parametrize("argv, words", [
    (["probe", "{tmp}/missing.mp4"], "does not exist"),
    (["probe", "{tmp}/garbage.mp4"], "cannot read video file"),
    (["fallback", "--profile", "huge", "--out", "{tmp}/o.mp4"], "unknown profile 'huge'"),
    (["fallback", *TINY, "--width", "100", "--out", "{tmp}/o.mp4"], "multiple of 8"),
    (["fallback", *TINY, "--image", "{tmp}/missing.png", "--out", "{tmp}/o.mp4"],
     "image file not found"),
    (["fallback", *TINY, "--out", "{tmp}/o.avi"], "must end in .mp4"),
    (["fallback", *TINY, "--out", "{tmp}/garbage.mp4/o.mp4"], "cannot create output folder"),
    (["concat", "{tmp}/a.mp4", "{tmp}/missing.mp4", "--out", "{tmp}/o.mp4"], "does not exist"),
    (["concat", "{tmp}/a.mp4", "{tmp}/a.mp4", "--crossfade", "9", "--out", "{tmp}/o.mp4"],
     "does not fit"),
    (["placeholder", "hi", "--width", "0", "--out", "{tmp}/o.png"], "integer from 1 to 8192"),
    (["placeholder", "hi", "--font-size", "100000", "--out", "{tmp}/o.png"], "font_size"),
    (["probe", "{tmp}/a.mp4\nsecond line"], "does not exist"),
    (["placeholder", "hi", "--color", "purplish", "--out", "{tmp}/o.png"], "not a colour"),
    (["placeholder", "hi", "--out", "{tmp}/o.txt"], "must be an image file"),
])
def test_user_errors_exit_2_with_one_line_and_leave_nothing(capsys, tmp_path, argv, words):
    clip(tmp_path / "a.mp4")
    (tmp_path / "garbage.mp4").write_bytes(b"garbage")
    before = sorted(tmp_path.iterdir())
    code, stdout, stderr = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and words in stderr and "Traceback" not in stderr
    assert sorted(tmp_path.iterdir()) == before


def test_unwritable_output_folder(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("root ignores the folder's mode")
    code, _, stderr = run(capsys, "fallback", *TINY, "--out", str(locked / "o.mp4"))
    assert code == 2 and "not writable" in stderr


def test_real_command(tmp_path):
    svlab = Path(sys.executable).with_name("svlab")
    out = tmp_path / "f.mp4"
    done = subprocess.run([str(svlab), "fallback", "--text", "hello", *TINY, "--out", str(out),
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["manifest"]["engine"] == "fallback"
    assert probe(out)["frames"] == 8
    done = subprocess.run([str(svlab), "probe", str(tmp_path / "none.mp4")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("svlab probe: error:")
    assert done.stderr.count("\n") == 1


def test_sigterm_during_an_encode_leaves_nothing_behind(tmp_path):
    """A long encode stopped by SIGTERM: exit 143, no video, no hidden partial file."""
    import signal
    import time

    svlab = Path(sys.executable).with_name("svlab")
    proc = subprocess.Popen([str(svlab), "fallback", "--text", "long", "--profile", "standard",
                             "--frames", "400", "--out", str(tmp_path / "long.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".part.mp4") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err, err
    assert list(tmp_path.iterdir()) == []
