import json

import numpy as np
import pytest
import torch
from diffusers import StableVideoDiffusionPipeline

from svlab.core.errors import InputError
from svlab.models import write_tiny_model


def test_writes_the_diffusers_layout(tiny_dir):
    index = json.loads((tiny_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableVideoDiffusionPipeline"
    for component in ("unet", "vae", "image_encoder"):
        assert (tiny_dir / component / "config.json").is_file()
        assert list((tiny_dir / component).glob("*.safetensors"))
    assert (tiny_dir / "scheduler" / "scheduler_config.json").is_file()
    assert (tiny_dir / "feature_extractor" / "preprocessor_config.json").is_file()
    size = sum(f.stat().st_size for f in tiny_dir.rglob("*") if f.is_file())
    assert size < 16e6


def test_second_write_keeps_the_folder(tiny_dir):
    before = (tiny_dir / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    assert write_tiny_model(tiny_dir) == tiny_dir
    assert (tiny_dir / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == before
    assert not [p for p in tiny_dir.parent.iterdir() if p.name.startswith(".tiny.")]


def test_a_writer_that_loses_the_race_keeps_the_winners_folder(tmp_path, monkeypatch):
    from svlab.models import build

    target = tmp_path / "tiny"
    target.mkdir()  # an empty folder is accepted
    real, raced = build.build_pipeline, []

    def racing(spec):  # another process finishes its write while this one builds
        pipe = real(spec)
        if not raced:
            raced.append(True)
            write_tiny_model(target)
        return pipe

    monkeypatch.setattr(build, "build_pipeline", racing)
    assert write_tiny_model(target) == target.resolve()
    assert (target / "model_index.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny.")]


def test_refuses_a_folder_holding_something_else(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        write_tiny_model(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_same_weights_from_two_writes(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    other = write_tiny_model(tmp_path / "again")
    a = load_file(tiny_dir / "unet" / "diffusion_pytorch_model.safetensors")
    b = load_file(other / "unet" / "diffusion_pytorch_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _generate(pipe, image, seed):
    return pipe(image, height=64, width=64, num_frames=4, num_inference_steps=4,
                generator=torch.Generator().manual_seed(seed), output_type="np").frames[0]


def test_generates_a_deterministic_clip_on_cpu(tiny_dir, image):
    pipe = StableVideoDiffusionPipeline.from_pretrained(tiny_dir)
    pipe.set_progress_bar_config(disable=True)
    first, again, other = (_generate(pipe, image, s) for s in (0, 0, 1))
    assert first.shape == (4, 64, 64, 3)
    assert np.isfinite(first).all()
    assert first.std() > 0.05  # an image, not a constant
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
