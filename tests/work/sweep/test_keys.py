"""Run keys come from what determines the frames, and a plan orders runs by model."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from svlab.run.settings import load_config
from svlab.work.sweep import plan_sweep
from svlab.work.sweep.keys import ModelIdentity, model_identity, run_key
from svlab.work.sweep.spec import SweepInput

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}
MODEL = ModelIdentity("tiny", None, "cpu")


def keys(tmp_path, photo_file, name="out", **sections):
    plan = plan_sweep({"base": TINY, "inputs": [{"image": str(photo_file)}], **sections},
                      tmp_path / name)
    return [t.key for t in plan.tasks]


def test_a_key_is_stable_and_follows_the_normalised_settings(tmp_path, photo_file):
    first = keys(tmp_path, photo_file, grid={"seed": [0, 1]})
    assert first == keys(tmp_path, photo_file, "again", grid={"seed": [0, 1]})
    assert len(set(first)) == 2 and all(len(k) == 16 for k in first)
    spelled_out = dict(load_config("cpu-tiny").to_dict(), num_frames=4, num_inference_steps=2)
    plan = plan_sweep({"base": spelled_out, "inputs": [{"image": str(photo_file)}],
                       "seeds": [0, 1]}, tmp_path / "spelled")
    assert [t.key for t in plan.tasks] == first  # the profile written out: the same runs
    assert keys(tmp_path, photo_file, grid={"seed": [0, 2]})[0] == first[0]
    assert keys(tmp_path, photo_file, grid={"seed": [0, 2]})[1] != first[1]


def test_a_key_follows_the_input_content_not_its_path(tmp_path, photo_file, photo):
    config = load_config("cpu-tiny")
    copy = tmp_path / "elsewhere.png"
    shutil.copy(photo_file, copy)
    plan = plan_sweep({"base": TINY, "inputs": [{"image": str(photo_file)},
                                                 {"image": str(copy)}]}, tmp_path / "o")
    assert len(plan.tasks) == 1  # the same picture twice is one run
    changed = photo.copy()
    changed[0, 0] = 0
    Image.fromarray(changed).save(copy)
    a, b = (SweepInput(p, None, d) for p, d in ((photo_file, "a" * 64), (copy, "b" * 64)))
    assert run_key(config, a, MODEL) != run_key(config, b, MODEL)
    assert run_key(config, SweepInput(None, "a cat"), MODEL) != \
        run_key(config, SweepInput(None, "a dog"), MODEL)


def test_a_key_follows_the_model_and_its_revision():
    config = load_config("cpu-tiny")
    source = SweepInput(None, "a cat")
    assert run_key(config, source, MODEL) != \
        run_key(config, source, ModelIdentity("tiny", "abc123", "cpu"))
    assert run_key(config, source, MODEL) != \
        run_key(config, source, ModelIdentity("tiny", None, "cuda"))
    assert model_identity(config) == MODEL
    assert model_identity(config.replace(model="fallback")) == \
        ModelIdentity("fallback", None, "cpu")


def test_runs_are_grouped_by_loading_key_and_reuse_order(tmp_path, photo_file, other_photo):
    plan = plan_sweep({"base": TINY, "inputs": [{"image": str(photo_file)},
                                                 {"image": str(other_photo)}],
                       "runs": [{"model": "tiny"}, {"model": "fallback"}],
                       "grid": {"motion_bucket_id": [1, 255]}, "seeds": 2}, tmp_path / "o")
    groups = plan.groups()
    assert [{t.config.model for t in g} for g in groups] == [{"tiny"}, {"fallback"}]
    tiny = groups[0]
    order = [(t.input.label, t.config.seed, t.config.motion_bucket_id) for t in tiny]
    assert order == [("photo.png", 0, 1), ("photo.png", 0, 255), ("photo.png", 1, 1),
                     ("photo.png", 1, 255), ("other.png", 0, 1), ("other.png", 0, 255),
                     ("other.png", 1, 1), ("other.png", 1, 255)]
    assert sorted(t.key for g in groups for t in g) == sorted(t.key for t in plan.tasks)
    assert all(t.video == tmp_path / "o" / "runs" / f"{t.key}.mp4" for t in plan.tasks)
    assert not (tmp_path / "o" / "runs").exists()  # planning writes no run
    assert np.all([t.manifest.suffix == ".json" for t in plan.tasks])
