"""The new families' tiny models on the command line: `svlab generate` (LTX-2's sound in the MP4,
as `svlab probe` reports it), a one-run sweep each, and `svlab plan --vram 24GiB` for each
full-size model."""

import csv
import json

import pytest
import yaml

from svlab.face.cli import main
from svlab.media import probe
from svlab.media.video_io import read_audio
from svlab.run.clip import unload_models

TINY = {"tiny-ltx2": True, "tiny-hunyuanvideo15": False}  # model -> makes sound


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    unload_models()


@pytest.mark.parametrize("model", TINY)
def test_generate_then_probe(model, capsys, photo_file, tmp_path):
    out = tmp_path / "clip.mp4"
    assert main(["generate", "--model", model, "--image", str(photo_file), "--prompt",
                 "a red dog", "--steps", "2", "--out", str(out), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["manifest"]
    assert m["engine"] == "model" and m["model_info"]["model"] == model
    assert (m["output"]["audio"] is not None) == TINY[model]
    assert main(["probe", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["frames"] == 9 and info["has_audio"] == TINY[model]
    if TINY[model]:
        assert (info["audio_codec"], info["audio_sample_rate"], info["audio_channels"]) == \
            ("aac", m["output"]["audio"]["sample_rate"], m["output"]["audio"]["channels"])
        # interpolating the file keeps its sound, fitted to the new length
        doubled = tmp_path / "doubled.mp4"
        assert main(["interpolate", str(out), "--factor", "2", "--method", "blend", "--out",
                     str(doubled)]) == 0
        capsys.readouterr()
        again = probe(doubled)
        assert again["frames"] == 17 and again["has_audio"]
        samples, rate = read_audio(doubled)
        assert samples.shape[1] / rate == pytest.approx(17 / 48, abs=0.05)


def test_a_one_run_sweep_of_each_new_family(capsys, photo_file, tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "base": {"profile": "cpu-tiny", "num_inference_steps": 2},
        "inputs": [{"image": str(photo_file)}],
        "runs": [{"model": model} for model in TINY]}))
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["runs"], report["done"], report["failed"]) == (2, 2, 0)
    with open(out / "results.csv", newline="") as f:
        rows = {row["model"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(TINY)
    for model, sound in TINY.items():
        manifest = json.loads((out / rows[model]["video"]).with_suffix(".json").read_text())
        assert (manifest["output"]["audio"] is not None) == sound


def test_hunyuanvideo_720p_does_not_fit_24_gib_and_says_its_smallest_peak(capsys):
    assert main(["plan", "--model", "hunyuanvideo-1.5-i2v-720p", "--vram", "24GiB",
                 "--json"]) == 2
    assert "nothing fits in 24.00 GiB" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["ltx-2", "hunyuanvideo-1.5-i2v-480p"])
def test_plan_for_24_gib(model, capsys):
    assert main(["plan", "--model", model, "--vram", "24GiB", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["peak_bytes"] > 0 and {"conditioning", "denoising", "decoding"} <= \
        set(plan["stages"])
    assert plan["params"]["transformer"] > 8e9
