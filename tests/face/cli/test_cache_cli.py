"""`--cache` on the command line and in sweeps: bad input refused before any work, a cached
run recorded in its manifest and reproduced by `svlab rerun`, and a sweep grid over `cache`."""

import json

import pytest

import svlab
from svlab.face.cli import main
from svlab.run.clip import unload_models

TINY = ["--profile", "cpu-tiny", "--model", "tiny-ltx", "--steps", "3"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    unload_models()


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv, message", [
    (["--cache", "teacache"],
     "unknown cache 'teacache'; accepted: first_block, pyramid_attention, taylorseer"),
    (["--cache", "first_block", "--model", "tiny"],
     "cache='first_block' cannot run on the svd family; accepted: none"),
    (["--cache", "first_block", "--cache-threshold", "3"], "out of range; accepted: from 0.001"),
    (["--cache-threshold", "0.1"], "needs a cache method"),
])
def test_bad_cache_input_exits_2_in_one_line_and_runs_nothing(capsys, photo_file, tmp_path,
                                                               argv, message):
    out = tmp_path / "x.mp4"
    code = _exit_code(["generate", "--image", str(photo_file), *TINY, *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_a_cached_run_is_recorded_and_reruns_identically(capsys, photo_file, tmp_path):
    out = tmp_path / "cached.mp4"
    assert main(["generate", "--image", str(photo_file), *TINY, "--cache", "taylorseer",
                 "--cache-threshold", "2", "--out", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert (manifest["cache"], manifest["cache_threshold"]) == ("taylorseer", 2.0)
    assert main(["rerun", str(out.with_suffix(".json")), "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["check"]["identical"] is True


def test_a_sweep_grid_over_cache(tmp_path, photo_file):
    spec = {"base": {"profile": "cpu-tiny", "model": "tiny-ltx", "num_inference_steps": 3},
            "inputs": [{"image": str(photo_file)}],
            "grid": {"cache": [None, "first_block", "pyramid_attention"]}}
    table = svlab.sweep(spec, tmp_path / "sweep", progress=False)
    assert list(table["status"]) == ["done"] * 3, list(table["reason"])
    recorded = [json.loads((tmp_path / "sweep" / m).read_text())["cache"]
                for m in table["manifest"]]
    assert recorded == [None, "first_block", "pyramid_attention"]


def test_a_manifest_from_before_caching_reruns_without_it(capsys, photo_file, tmp_path):
    out = tmp_path / "plain.mp4"
    assert main(["generate", "--image", str(photo_file), *TINY, "--out", str(out)]) == 0
    manifest = out.with_suffix(".json")
    recorded = json.loads(manifest.read_text())
    del recorded["cache"], recorded["cache_threshold"]
    manifest.write_text(json.dumps(recorded))
    capsys.readouterr()
    assert main(["rerun", str(manifest), "--check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["check"]["identical"] is True
