"""Every family end to end with its tiny model: `svlab.generate` gives the frames of a direct
diffusers call with the same seed and settings, from the registry and from a folder."""

import time

import diffusers
import numpy as np
import pytest
import torch

from svlab import generate
from svlab.core.errors import ConfigError, ModelUnavailableError
from svlab.models import resolve_model, write_tiny_model
from svlab.media.images import fit_image, read_image
from svlab.run.stages import to_uint8

PIPELINES = {"tiny-ltx": "LTXImageToVideoPipeline", "tiny-wan": "WanImageToVideoPipeline",
             "tiny-cogvideox": "CogVideoXImageToVideoPipeline"}
PROMPT = "a red dog runs over the street, camera moving slowly"


def _direct(model, folder, photo, config):
    pipe = getattr(diffusers, PIPELINES[model]).from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    extra = {"frame_rate": config.fps} if model == "tiny-ltx" else {}
    keyframe = fit_image(read_image(photo)[0], config.width, config.height)
    return pipe(image=keyframe, prompt=PROMPT, negative_prompt=config.negative_prompt,
                height=config.height, width=config.width, num_frames=config.num_frames,
                num_inference_steps=config.num_inference_steps,
                guidance_scale=config.guidance_scale,
                generator=torch.Generator("cpu").manual_seed(config.seed), output_type="np",
                **extra).frames[0]


@pytest.mark.parametrize("model", PIPELINES)
def test_generate_gives_the_frames_of_a_direct_diffusers_call(model, photo, tmp_path):
    result = generate(image=photo, prompt=PROMPT, config="cpu-tiny", model=model, seed=3,
                      num_inference_steps=2, negative_prompt="blurry", out=tmp_path / "x.mp4")
    m = result.manifest
    assert m["engine"] == "model" and m["model_info"]["model"] == model
    assert m["guidance_scale"] > 1 and m["negative_prompt"] == "blurry"
    assert result.frames.shape == (9, 64, 64, 3)
    for stage in ("load", "conditioning", "denoising", "decoding", "encoding"):
        assert m["stages"][stage]["seconds"] > 0
    config = m  # the manifest records every setting under its name
    from svlab.run.settings import load_config

    c = load_config("cpu-tiny", overrides={k: config[k] for k in (
        "model", "seed", "num_inference_steps", "height", "width", "num_frames", "fps",
        "guidance_scale", "negative_prompt")})
    direct = _direct(model, resolve_model(model).path, photo, c)
    assert np.array_equal(result.frames, to_uint8(direct))


def test_the_prompt_changes_the_frames_and_no_prompt_is_the_empty_one(photo, tmp_path):
    common = dict(image=photo, config="cpu-tiny", model="tiny-ltx", num_inference_steps=2)
    a = generate(prompt=PROMPT, out=tmp_path / "a.mp4", **common).frames
    b = generate(prompt="a blue sea", out=tmp_path / "b.mp4", **common).frames
    none = generate(out=tmp_path / "c.mp4", **common).frames
    empty = generate(prompt="", out=tmp_path / "d.mp4", **common).frames
    assert not np.array_equal(a, b)
    assert np.array_equal(none, empty)


def test_freeing_the_text_encoder_gives_the_same_frames(photo, tmp_path):
    common = dict(image=photo, prompt=PROMPT, config="cpu-tiny", model="tiny-cogvideox",
                  num_inference_steps=2)
    kept = generate(out=tmp_path / "a.mp4", **common)
    freed = generate(out=tmp_path / "b.mp4", free_text_encoder=True, **common)
    assert freed.manifest["free_text_encoder"] is True
    assert np.array_equal(kept.frames, freed.frames)


def test_memory_options_run_on_the_cpu(photo, tmp_path):
    """fp8 storage with layerwise casting, VAE tiling and slicing: a clip, frames in range."""
    result = generate(image=photo, prompt=PROMPT, config="cpu-tiny", model="tiny-wan",
                      num_inference_steps=2, layerwise_casting=True, vae_tiling=True,
                      vae_slicing=True, out=tmp_path / "x.mp4")
    assert result.manifest["engine"] == "model"
    assert result.frames.shape == (9, 64, 64, 3) and result.frames.std() > 1


def test_loads_a_save_pretrained_folder(photo, tmp_path):
    folder = write_tiny_model(tmp_path / "wan", "tiny-wan")
    result = generate(image=photo, prompt=PROMPT, config="cpu-tiny", model=str(folder),
                      height=64, width=64, num_frames=5, num_inference_steps=1,
                      out=tmp_path / "x.mp4")
    assert result.manifest["model_info"]["family"] == "wan"
    assert result.frames.shape == (5, 64, 64, 3)


@pytest.mark.parametrize("model", ["ltx-video", "wan2.1-i2v-14b-480p", "wan2.2-i2v-a14b",
                                   "wan2.2-ti2v-5b", "cogvideox-5b-i2v"])
def test_missing_weights_fail_at_once_naming_where_to_put_them(model, photo, tmp_path):
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match=f"no weights for model '{model}'"):
        generate(image=photo, prompt=PROMPT, model=model, out=tmp_path / "x.mp4")
    assert time.perf_counter() - start < 5
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("model, overrides, accepted", [
    ("tiny-ltx", {"height": 48}, "multiple of 32"),
    ("tiny-ltx", {"num_frames": 8}, "8k\\+1"),
    ("tiny-ltx", {"num_inference_steps": 1}, "2 or more"),
    ("tiny-wan", {"width": 72}, "multiple of 16"),
    ("tiny-wan", {"num_frames": 7}, "4k\\+1"),
    ("tiny-wan", {"guidance_scale_2": 2.0}, "two-expert"),
    ("tiny-cogvideox", {"height": 96}, "height=64 width=64"),
    ("wan2.2-ti2v-5b", {"height": 720}, "multiple of 32"),
])
def test_sizes_and_frames_a_model_cannot_take(model, overrides, accepted, photo, tmp_path):
    with pytest.raises(ConfigError, match=accepted):
        generate(image=photo, model=model, out=tmp_path / "x.mp4", **overrides)
    assert not list(tmp_path.iterdir())
