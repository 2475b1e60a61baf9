"""Sweep files read, checked and expanded: grid, zip, runs and seeds; every mistake refused
before anything runs, with one message naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from svlab.core.errors import ConfigError, InputError
from svlab.work.sweep import load_sweep
from svlab.work.sweep.expand import DEFAULT_MAX_RUNS, check_size, count_runs, expand

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


def spec(photo_file, **sections):
    return {"base": TINY, "inputs": [{"image": str(photo_file)}], **sections}


def settings(runs, *names):
    return [tuple(r.varied[n] for n in names) for r in runs]


def test_grid_is_a_cartesian_product_in_order(photo_file):
    runs = expand(load_sweep(spec(photo_file, grid={"seed": [0, 1], "motion_bucket_id":
                                                     [1, 127, 255]})))
    assert settings(runs, "seed", "motion_bucket_id") == [
        (0, 1), (0, 127), (0, 255), (1, 1), (1, 127), (1, 255)]
    assert [r.config.motion_bucket_id for r in runs] == [1, 127, 255, 1, 127, 255]
    assert all(r.config.num_frames == 4 and r.config.model == "tiny" for r in runs)


def test_zip_takes_lists_together_and_crosses_the_grid(photo_file):
    runs = expand(load_sweep(spec(photo_file, grid={"seed": [0, 1]},
                                  zip={"min_guidance_scale": [1, 2],
                                       "max_guidance_scale": [2, 3]})))
    assert settings(runs, "seed", "min_guidance_scale", "max_guidance_scale") == [
        (0, 1.0, 2.0), (0, 2.0, 3.0), (1, 1.0, 2.0), (1, 2.0, 3.0)]


def test_runs_seeds_and_inputs_multiply(photo_file, other_photo):
    s = load_sweep({"base": TINY, "inputs": [{"image": str(photo_file)},
                                             {"image": str(other_photo), "prompt": "a fox"},
                                             {"prompt": "森林里的小鹿"}],
                    "runs": [{"model": "tiny"}, {"model": "fallback", "num_frames": 6}],
                    "seeds": 3})
    assert count_runs(s) == 3 * 2 * 3
    runs = expand(s)
    assert len(runs) == 18 and [r.index for r in runs] == list(range(18))
    assert settings(runs[:6], "model", "num_frames", "seed") == [
        ("tiny", 4, 0), ("tiny", 4, 1), ("tiny", 4, 2),
        ("fallback", 6, 0), ("fallback", 6, 1), ("fallback", 6, 2)]
    assert [r.input.label for r in runs[::6]] == ["photo.png", "other.png", "森林里的小鹿"]
    assert runs[6].input.prompt == "a fox" and runs[12].input.image is None
    assert s.varied == ["model", "num_frames", "seed"]


def test_every_setting_may_vary_profile_and_model_included(photo_file):
    runs = expand(load_sweep({
        "base": {"num_frames": 4, "model": "tiny"}, "inputs": [{"image": str(photo_file)}],
        "runs": [{"profile": "cpu-tiny"}, {"profile": "low-vram", "model": "fallback"}]}))
    # each run: its profile's defaults, then the base's settings, then the run's own
    assert [(r.config.num_inference_steps, r.config.num_frames, r.config.model)
            for r in runs] == [(4, 4, "tiny"), (15, 4, "fallback")]
    assert settings(runs, "profile", "model") == [("cpu-tiny", "tiny"), ("low-vram", "fallback")]


def test_seeds_list_and_a_file_with_relative_paths(photo_file, tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "pics").mkdir()
    photo_file.rename(folder / "pics" / "a.png")
    (folder / "pics" / "notes.txt").write_text("not an image")
    file = folder / "sweep.yaml"
    file.write_text(yaml.safe_dump({"base": TINY, "inputs": "pics", "seeds": [7, 9]}))
    s = load_sweep(file)
    assert [i.image for i in s.inputs] == [(folder / "pics" / "a.png").resolve()]
    assert [r.config.seed for r in expand(s)] == [7, 9]
    json_file = folder / "sweep.json"
    json_file.write_text(json.dumps({"base": TINY, "inputs": [{"folder": "pics"}],
                                     "grid": {"fps": [6, 8]}}))
    assert [r.config.fps for r in expand(load_sweep(json_file))] == [6, 8]


def test_an_in_memory_image_is_saved_into_the_sweep_folder(photo, tmp_path):
    s = load_sweep({"base": TINY, "inputs": [{"image": photo}]}, store=tmp_path / "out")
    (saved,) = [i.image for i in s.inputs]
    assert saved.parent == (tmp_path / "out" / "inputs").resolve()
    assert np.array_equal(np.asarray(__import__("PIL.Image").Image.open(saved)), photo)
    with pytest.raises(InputError, match="in-memory image needs the sweep's output folder"):
        load_sweep({"base": TINY, "inputs": [{"image": photo}]})


@pytest.mark.parametrize("sections, error, message", [
    ({"grid": {"sead": [1, 2]}}, ConfigError,
     "grid: unknown setting 'sead' (did you mean 'seed'?); accepted: profile, model"),
    ({"base": {"profile": "cpu-tiny", "frames": 4}}, ConfigError,
     "base: unknown setting 'frames'"),
    ({"grids": {"seed": [1]}}, ConfigError,
     "unknown sweep section 'grids' (did you mean 'grid'?); accepted: base, inputs"),
    ({"grid": {"motion_bucket_id": [1, 2000]}}, ConfigError,
     "grid: motion_bucket_id=2000 is out of range; accepted: from 0 to 1023"),
    ({"runs": [{"height": 60}]}, ConfigError, "runs[0]: height=60 cannot be taken"),
    ({"seeds": [1, -1]}, ConfigError, "seeds: seed=-1 is out of range"),
    ({"grid": {"seed": []}}, ConfigError, "grid: seed has no values; give at least one"),
    ({"grid": {}}, ConfigError, "grid is empty"),
    ({"grid": {"seed": 3}}, ConfigError, "grid: seed must be a list of values, got 3"),
    ({"zip": {"seed": [1, 2], "fps": [6]}}, ConfigError,
     "zip: the lists are taken together and must have one length; seed has 2, fps has 1"),
    ({"grid": {"seed": [1]}, "seeds": 2}, ConfigError,
     "seed varies in both grid and seeds"),
    ({"seeds": 0}, ConfigError, "seeds=0: give a number of seeds from 1"),
    ({"runs": []}, ConfigError, "runs must be a non-empty list"),
    ({"zip": {"min_guidance_scale": [2, 5], "max_guidance_scale": [3, 4]}}, ConfigError,
     "zip row 1: min_guidance_scale (5.0) must not exceed max_guidance_scale (4.0)"),
    ({"base": {**TINY, "max_guidance_scale": 10}, "grid": {"min_guidance_scale": [1, 8]},
      "runs": [{"max_guidance_scale": 6}]}, ConfigError,
     "the run with max_guidance_scale=6, min_guidance_scale=8: min_guidance_scale (8.0) must "
     "not exceed max_guidance_scale (6.0)"),
])
def test_mistakes_are_refused_with_one_clear_message(photo_file, sections, error, message):
    data = {**spec(photo_file), **sections}
    with pytest.raises(error) as caught:
        expand(load_sweep(data))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("inputs, message", [
    ([{"image": "missing.png"}], "inputs[0]: image not found: "),
    ([], "inputs: give at least one {image: PATH}, {prompt: TEXT} or {folder: DIR}"),
    (None, "inputs: give at least one"),
    ([{"prompt": "  "}], "inputs[0]: prompt must be non-empty text"),
    ([{"picture": "a.png"}], "inputs[0] must be a mapping with image, prompt and/or folder"),
    ("no-such-folder", "inputs[0]: folder not found: "),
])
def test_missing_inputs_are_refused(inputs, message, tmp_path):
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")
                       .replace("[", r"\[").replace("]", r"\]")):
        load_sweep({"base": TINY, "inputs": inputs})


def test_an_image_that_cannot_be_read_is_refused(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match="cannot read image"):
        load_sweep({"base": TINY, "inputs": [{"image": str(bad)}]})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        load_sweep({"base": TINY, "inputs": [{"folder": str(tmp_path / "empty")}]})


def test_a_million_runs_need_an_explicit_max_runs(photo_file):
    huge = load_sweep(spec(photo_file, grid={"seed": list(range(1000)),
                                             "motion_bucket_id": list(range(1000))}))
    assert count_runs(huge) == 1_000_000  # counted, never expanded
    with pytest.raises(ConfigError, match=r"makes 1,000,000 runs, more than the 10,000 allowed "
                                          r"by default; to run them all pass --max-runs 1000000"):
        expand(huge)
    assert check_size(huge, 1_000_000) == 1_000_000
    with pytest.raises(ConfigError, match="more than the 10 allowed by max_runs"):
        check_size(huge, 10)
    assert DEFAULT_MAX_RUNS == 10_000
