import json
import subprocess
import sys

import pytest

from svlab.face.cli import main


def test_plan_json_is_one_object_in_the_contracted_shape():
    # a fresh process, as outside checks run it
    out = subprocess.run(
        [sys.executable, "-c", "from svlab.face.cli import main; raise SystemExit(main())",
         "plan", "--model", "svd-xt", "--height", "576", "--width", "1024", "--frames", "25",
         "--json"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert isinstance(plan["peak_bytes"], int)
    assert set(plan["stages"]) >= {"load", "image_encoding", "denoising", "decoding"}
    assert all(isinstance(row["peak_bytes"], int) for row in plan["stages"].values())
    assert plan["params"]["unet"] == pytest.approx(1.52e9, rel=0.01)
    assert plan["peak_bytes"] == max(row["peak_bytes"] for row in plan["stages"].values())


def test_plan_prints_a_table_in_gib(capsys):
    assert main(["plan", "--model", "tiny", "--height", "64", "--width", "64",
                 "--frames", "4", "--dtype", "fp32", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    for stage in ("load", "image_encoding", "denoising", "decoding", "encoding", "peak"):
        assert f"\n{stage}" in text
    assert "peak GiB" in text and "parameters: unet" in text


def test_plan_with_vram_recommends_and_explains(capsys):
    assert main(["plan", "--model", "svd-xt", "--vram", "12GiB", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rec = out["recommendation"]
    assert out["peak_bytes"] <= rec["budget_bytes"] < 12 * 2**30
    assert set(rec["overrides"]) == {"offload", "forward_chunking", "decode_chunk_size", "dtype"}
    assert rec["reasoning"][-1].endswith("the fastest setting that fits")


@pytest.mark.parametrize("argv, message", [
    (["--vram", "8"], "cannot read memory size '8'"),
    (["--vram", "lots"], "cannot read memory size 'lots'"),
    (["--model", "svd-xt", "--vram", "1GiB"], "smallest predicted peak"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--offload", "gpu"], "unknown offload 'gpu'"),
    (["--height", "100000"], "height=100000 is out of range; accepted: from 8 to 4096"),
    (["--frames", "100000"], "num_frames=100000 is out of range; accepted: from 1 to 1024"),
    (["--max-guidance", "inf"], "max_guidance_scale must be a finite number, got inf"),
    (["--vram", "8GiB", "--headroom", "nan"], "headroom=nan is out of range"),
])
def test_user_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(["plan", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.count("\n") == 1
