"""svlab's trained `mini` model: it ships with the package, opens like any diffusers checkpoint,
and its output means something (the picture kept, motion that follows motion_bucket_id).

The pictures are scikit-image's, which the training never saw (docs/mini-model.md)."""

import json

import numpy as np
import pytest
import skimage.data
import torch
from diffusers import StableVideoDiffusionPipeline
from PIL import Image

import svlab
from svlab.render.eval.metrics import fidelity, motion
from svlab.models import VideoModelLoader, get_spec, resolve_model
from svlab.media.images import load_image
from svlab.run.clip import generate_clip
from svlab.run.settings import load_config

# First frame against the input: mini measures about 21 dB on held-out pictures, the random
# tiny model about 10 (benchmarks/mini_model.py); a lost conditioning path falls far below.
FIDELITY_DB = 16.0


def picture(name: str = "chelsea") -> np.ndarray:
    image = getattr(skimage.data, name)()
    side = min(image.shape[:2])
    return np.asarray(Image.fromarray(image[:side, :side]).resize((64, 64), Image.LANCZOS))


@pytest.fixture(scope="module")
def mini():
    config = load_config(None, {"model": "mini"})
    loader = VideoModelLoader(config)
    loader.load()
    return config, loader


def clip(mini, image, **settings) -> np.ndarray:
    config, loader = mini
    return generate_clip(load_image(image, 64, 64), config.replace(**settings),
                         loader=loader).frames


def test_ships_as_an_ordinary_diffusers_folder():
    resolved = resolve_model("mini")
    assert resolved.found_in == "package"
    index = json.loads((resolved.path / "model_index.json").read_text())
    assert index["_class_name"] == "StableVideoDiffusionPipeline"
    weights = sum(f.stat().st_size for f in resolved.path.rglob("*.safetensors"))
    assert weights <= 30e6
    pipe = StableVideoDiffusionPipeline.from_pretrained(resolved.path)
    spec = get_spec("mini")
    assert pipe.unet.config.block_out_channels == spec.components["unet"]["block_out_channels"]
    assert pipe.vae.config.latent_channels == spec.components["vae"]["latent_channels"]


def test_generate_takes_the_models_own_size_frames_and_fps(tmp_path):
    image = tmp_path / "cat.png"
    Image.fromarray(picture()).save(image)
    result = svlab.generate(image=str(image), model="mini", out=tmp_path / "clip.mp4")
    assert result.frames.shape == (8, 64, 64, 3)
    manifest = result.manifest
    assert (manifest["model"], manifest["engine"]) == ("mini", "model")
    assert (manifest["height"], manifest["width"], manifest["num_frames"], manifest["fps"]) \
        == (64, 64, 8, 7)


def test_frames_identical_to_a_direct_diffusers_call(mini):
    config, loader = mini
    image = load_image(picture(), 64, 64)
    ours = clip(mini, picture(), seed=5, motion_bucket_id=127)
    pipe = loader.load()
    direct = pipe(image, height=64, width=64, num_frames=config.num_frames,
                  num_inference_steps=config.num_inference_steps,
                  min_guidance_scale=config.min_guidance_scale,
                  max_guidance_scale=config.max_guidance_scale, fps=config.fps,
                  motion_bucket_id=127, noise_aug_strength=config.noise_aug_strength,
                  decode_chunk_size=config.decode_chunk_size,
                  generator=torch.Generator("cpu").manual_seed(5), output_type="np").frames[0]
    assert np.array_equal(ours, (np.clip(direct, 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee"])
def test_the_first_frame_is_the_picture(mini, name):
    image = picture(name)
    psnr, _ = fidelity(clip(mini, image, seed=0)[0], image)
    assert psnr >= FIDELITY_DB


def test_motion_follows_motion_bucket_id(mini):
    moves = {}
    for bucket in (1, 255):
        moves[bucket] = np.mean([motion(clip(mini, picture(name), seed=seed,
                                             motion_bucket_id=bucket))[0]
                                 for name in ("chelsea", "astronaut") for seed in (0, 1)])
    assert moves[255] >= 1.5 * moves[1], moves


def test_a_broken_conditioning_path_is_caught(mini, monkeypatch):
    """Planted fault: the conditioning image's latents never reach the UNet (zeros, as for
    the unconditional pass). The fidelity check above must then fail."""
    image = picture()
    pipe = mini[1].load()
    real = pipe._encode_vae_image

    def lost(*args, **kwargs):
        return torch.zeros_like(real(*args, **kwargs))

    monkeypatch.setattr(pipe, "_encode_vae_image", lost)
    psnr, _ = fidelity(clip(mini, image, seed=0)[0], image)
    assert psnr < FIDELITY_DB
