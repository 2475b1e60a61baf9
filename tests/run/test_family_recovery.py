"""The recovery ladder of the transformer families, with out-of-memory injected into their
real tiny pipelines: VAE tiling before any offload, every step in the manifest."""

import pytest
import torch

from svlab.models import VideoModelLoader
from svlab.run.settings import load_config
from svlab.render.service import generate

FAMILIES = ["tiny-ltx", "tiny-wan", "tiny-cogvideox"]


def config_of(model):
    return load_config("cpu-tiny", {"model": model, "num_inference_steps": 2})


@pytest.mark.parametrize("model", FAMILIES)
def test_decoding_oom_is_answered_by_vae_tiling_first(model, photo, tmp_path, monkeypatch):
    config = config_of(model)
    loader = VideoModelLoader(config)
    loader.load()
    vae = loader.pipeline.vae
    real = vae.decode
    tiled = []

    def decode(*args, **kwargs):
        tiled.append(vae.use_tiling)
        if not vae.use_tiling:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(vae, "decode", decode)
    result = generate(image=photo, prompt="a red square", config=config,
                      out=tmp_path / "x.mp4", loader=loader)
    loader.unload()
    steps = result.manifest["recovery"]
    assert [(s["stage"], s["action"]) for s in steps] == [("decoding", "enable VAE tiling")]
    assert result.manifest["engine"] == "model" and tiled == [False, True]
    assert result.manifest["model_info"]["vae_tiling"] is True  # the loader's state too
    assert result.frames.shape == (config.num_frames, config.height, config.width, 3)


def test_a_denoiser_that_never_fits_climbs_the_whole_ladder(photo, tmp_path, monkeypatch):
    """Tiling first, then the text encoder off the device, then offload from the fastest
    mode to the slowest; then the fallback engine, with the reason in the manifest."""
    config = config_of("tiny-ltx")
    loader = VideoModelLoader(config)
    loader.load()

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(loader.pipeline.transformer, "forward", oom)
    result = generate(image=photo, prompt="a red square", config=config,
                      out=tmp_path / "x.mp4", loader=loader)
    loader.unload()
    m = result.manifest
    assert [r["action"] for r in m["recovery"]] == [
        "enable VAE tiling", "move the text encoder off the device after encoding the prompt",
        "enable model offload", "enable block offload", "enable sequential offload", None]
    assert m["engine"] == "fallback" and "out of memory while denoising" in m["fallback_reason"]
    assert m["model_info"]["vae_tiling"] and m["model_info"]["free_text_encoder"]
