import gc
import shutil
import weakref

import numpy as np
import pytest
import torch

from svlab.run.settings import load_config
from svlab.core.errors import ModelUnavailableError
from svlab.models import VideoModelLoader
from svlab.run.stages import decode


def tiny_config(tiny_dir, **overrides):
    return load_config("cpu-tiny", overrides={"model": str(tiny_dir), "num_frames": 4,
                                              **overrides})


def run(pipe, image, **kwargs):
    return pipe(image, height=64, width=64, num_frames=4, num_inference_steps=4,
                generator=torch.Generator().manual_seed(0), **kwargs).frames


def test_context_manager_loads_and_frees(tiny_dir, image):
    loader = VideoModelLoader(tiny_config(tiny_dir))
    with loader as pipe:
        frames = run(pipe, image, output_type="np")[0]
        probe = weakref.ref(pipe.unet)
        del pipe
    assert frames.shape == (4, 64, 64, 3) and np.isfinite(frames).all()
    assert loader.pipeline is None
    assert probe() is None
    assert loader.info.released is True


def test_info_is_complete(tiny_dir):
    loader = VideoModelLoader(tiny_config(tiny_dir))
    loader.load()
    loader.unload()
    info = loader.info
    assert info.model == str(tiny_dir) and info.source == "folder"
    assert info.path == str(tiny_dir) and info.revision is None
    assert (info.device, info.dtype, info.attention, info.offload) == (
        "cpu", "fp32", "sdpa", "none")
    assert info.forward_chunking is False and info.compiled is False
    assert info.load_seconds > 0 and info.unload_seconds >= 0


def test_registry_id_loads_the_tiny_model(tmp_path):
    with VideoModelLoader(load_config("cpu-tiny")) as pipe:
        assert pipe.unet.config.block_out_channels == [32, 64]
    assert (tmp_path / "svlab-models" / "tiny" / "model_index.json").is_file()


def test_unload_reports_weights_still_held(tiny_dir):
    loader = VideoModelLoader(tiny_config(tiny_dir))
    pipe = loader.load()
    loader.unload()
    assert loader.info.released is False
    del pipe
    gc.collect()


def test_sdpa_processors_everywhere(tiny_dir):
    with VideoModelLoader(tiny_config(tiny_dir, attention="sdpa")) as pipe:
        kinds = {type(p).__name__ for m in (pipe.unet, pipe.vae)
                 for p in m.attn_processors.values()}
    assert kinds == {"AttnProcessor2_0"}


def test_xformers_on_cpu_is_a_clear_error(tiny_dir):
    with pytest.raises(ModelUnavailableError, match="xformers.*needs a CUDA device.*sdpa"):
        VideoModelLoader(tiny_config(tiny_dir, attention="xformers"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(tiny_dir):
    with pytest.raises(ModelUnavailableError, match="no usable CUDA device"):
        VideoModelLoader(tiny_config(tiny_dir, device="cuda"))


def test_offload_on_cpu_is_recorded_as_a_no_op(tiny_dir):
    loader = VideoModelLoader(tiny_config(tiny_dir, offload="model"))
    with loader:
        assert (loader.info.offload, loader.info.offload_requested) == ("none", "model")


def test_fallback_and_missing_auto_model_are_unavailable(tiny_dir):
    with pytest.raises(ModelUnavailableError, match="fallback engine"):
        VideoModelLoader(tiny_config(tiny_dir, model="fallback")).load()
    with pytest.raises(ModelUnavailableError, match="no weights for model 'svd-xt'"):
        VideoModelLoader(tiny_config(tiny_dir, model="auto")).load()


def test_truncated_weights_are_a_clear_error(tmp_path, tiny_dir):
    folder = shutil.copytree(tiny_dir, tmp_path / "model")
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelUnavailableError, match=f"cannot load {folder}"):
        VideoModelLoader(tiny_config(folder)).load()


def test_forward_chunking_keeps_the_frames(tiny_dir, image):
    with VideoModelLoader(tiny_config(tiny_dir)) as pipe:
        plain = run(pipe, image, output_type="np")
    loader = VideoModelLoader(tiny_config(tiny_dir, forward_chunking=True))
    with loader as pipe:
        chunked = run(pipe, image, output_type="np")
    assert loader.info.forward_chunking is True
    np.testing.assert_allclose(chunked, plain, atol=1e-5)


def test_decode_matches_the_pipeline_and_takes_an_upcast_vae(tiny_dir, image):
    """Denoise in bf16, then decode the same latents by the pipeline's path and by `decode`;
    after `upcast_vae` the bf16 latents still decode, in float32."""
    loader = VideoModelLoader(tiny_config(tiny_dir, dtype="bf16"))
    with loader as pipe:
        direct = run(pipe, image, output_type="np")
        latents = run(pipe, image, output_type="latent")
        assert latents.dtype == torch.bfloat16
        np.testing.assert_array_equal(decode(pipe, loader.family, latents, 4), direct)
        loader.upcast_vae()
        assert pipe.vae.dtype == torch.float32 and pipe.unet.dtype == torch.bfloat16
        upcast = decode(pipe, loader.family, latents, 4)
        del pipe
    assert loader.info.vae_dtype == "fp32"
    assert upcast.shape == direct.shape and np.isfinite(upcast).all()
    assert np.abs(upcast - direct).mean() < 0.05


def test_compile_wraps_the_unet(tiny_dir):
    loader = VideoModelLoader(tiny_config(tiny_dir, compile=True))
    with loader as pipe:
        assert loader.info.compiled is True
        assert hasattr(pipe.unet, "_orig_mod")
        del pipe
    assert loader.info.released is True


def test_out_of_memory_while_placing_is_unavailable_and_frees(tiny_dir, monkeypatch):
    from diffusers import StableVideoDiffusionPipeline

    def no_room(self, *args, **kwargs):
        raise torch.OutOfMemoryError("injected: out of memory")

    monkeypatch.setattr(StableVideoDiffusionPipeline, "to", no_room)
    loader = VideoModelLoader(tiny_config(tiny_dir))
    with pytest.raises(ModelUnavailableError, match="out of memory placing .* offload='model'"):
        loader.load()
    assert loader.pipeline is None and loader.info.released is True
