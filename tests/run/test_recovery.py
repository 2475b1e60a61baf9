"""The recovery ladder, with out-of-memory and NaN injected into the real tiny pipeline."""

import numpy as np
import pytest
import torch

from svlab.memory import StageTracker
from svlab.models import VideoModelLoader
from svlab.media.images import load_image
from svlab.core.records import RecoveryStep
from svlab.run.recovery import run_with_recovery
from svlab.render.service import generate


@pytest.fixture
def loaded(tiny_config):
    loader = VideoModelLoader(tiny_config)
    loader.load()
    yield loader
    loader.unload()


def _run(loader, config, photo):
    recovery = []
    frames, reason = run_with_recovery(loader, load_image(photo, config.width, config.height),
                                       config, tracker=StageTracker("cpu"), recovery=recovery)
    return frames, reason, recovery


def _oom(*args, **kwargs):
    raise torch.OutOfMemoryError("CUDA out of memory (injected)")


def test_decode_oom_halves_the_chunk_down_to_what_fits(loaded, tiny_config, photo, monkeypatch):
    pipe = loaded.pipeline
    real = pipe.decode_latents
    chunks = []

    def decode_latents(latents, num_frames, decode_chunk_size):
        chunks.append(decode_chunk_size)
        if decode_chunk_size > 1:
            raise torch.OutOfMemoryError("injected")
        return real(latents, num_frames, decode_chunk_size)

    monkeypatch.setattr(pipe, "decode_latents", decode_latents)
    frames, reason, recovery = _run(loaded, tiny_config, photo)
    assert reason is None and frames.shape == (4, 64, 64, 3)
    assert chunks == [4, 2, 1]
    assert [r.action for r in recovery] == ["decode_chunk_size 4 -> 2",
                                            "decode_chunk_size 2 -> 1"]
    assert all(r.stage == "decoding" for r in recovery)


def test_denoise_oom_enables_forward_chunking(loaded, tiny_config, photo, monkeypatch):
    pipe = loaded.pipeline
    real = pipe.unet.forward

    def forward(*args, **kwargs):
        if not loaded.info.forward_chunking:
            raise torch.OutOfMemoryError("injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipe.unet, "forward", forward)
    frames, reason, recovery = _run(loaded, tiny_config, photo)
    assert reason is None and frames.shape[0] == 4
    assert recovery == [RecoveryStep("denoising", "out of memory", "enable unet forward chunking")]


def test_whole_ladder_then_fallback_through_the_service(tiny_config, photo, tmp_path,
                                                         monkeypatch):
    loader = VideoModelLoader(tiny_config)
    loader.load()
    monkeypatch.setattr(loader.pipeline.unet, "forward", _oom)
    result = generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4", loader=loader)
    m = result.manifest
    assert [r["action"] for r in m["recovery"]] == [
        "enable unet forward chunking", "enable model offload", "enable sequential offload",
        None]
    assert m["engine"] == "fallback" and "out of memory while denoising" in m["fallback_reason"]
    assert result.frames.shape == (4, 64, 64, 3) and result.video_path.is_file()
    loader.unload()


def test_nan_frames_are_decoded_again_with_fp32_vae(tiny_config, photo, monkeypatch):
    config = tiny_config.replace(dtype="bf16")
    loader = VideoModelLoader(config)
    pipe = loader.load()
    assert pipe.vae.dtype == torch.bfloat16
    real = pipe.vae.decode

    def decode(latents, *args, **kwargs):
        out = real(latents, *args, **kwargs)
        if pipe.vae.dtype != torch.float32:
            out.sample.fill_(float("nan"))
        return out

    monkeypatch.setattr(pipe.vae, "decode", decode)
    frames, reason, recovery = _run(loader, config, photo)
    assert reason is None and not np.isnan(frames.astype(float)).any()
    assert recovery == [RecoveryStep("decoding", "NaN frames",
                                     "decode again with the VAE in fp32")]
    assert pipe.vae.dtype == torch.float32 and loader.info.vae_dtype == "fp32"
    loader.unload()


def test_black_frames_in_fp32_give_up_with_a_reason(loaded, tiny_config, photo, monkeypatch):
    pipe = loaded.pipeline
    real = pipe.vae.decode

    def decode(latents, *args, **kwargs):
        out = real(latents, *args, **kwargs)
        out.sample.fill_(-1.0)  # decodes to black
        return out

    monkeypatch.setattr(pipe.vae, "decode", decode)
    frames, reason, recovery = _run(loaded, tiny_config, photo)
    assert frames is None
    assert reason == "the model produced all-black frames even with the VAE in fp32"
    assert recovery[-1].error == "all-black frames"
