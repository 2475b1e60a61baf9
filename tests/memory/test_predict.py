import pytest
import torch

from svlab.core.errors import ConfigError
from svlab.memory import plan_memory, plan_stages

STAGES = plan_stages("svd-xt")


def test_tiny_plan_has_every_stage_and_its_peak_is_the_largest():
    plan = plan_memory("tiny", height=64, width=64, num_frames=4, dtype="fp32", device="cpu")
    assert list(plan["stages"]) == ["load", "image_encoding", "denoising", "decoding", "encoding"]
    assert plan["peak_bytes"] == max(row["peak_bytes"] for row in plan["stages"].values())
    assert plan["stages"][plan["peak_stage"]]["peak_bytes"] == plan["peak_bytes"]
    for row in plan["stages"].values():
        assert row["peak_bytes"] == row["weights_bytes"] + row["activation_bytes"]
    assert plan["stages"]["load"]["weights_bytes"] == sum(plan["weight_bytes"].values())
    assert set(plan["params"]) == {"unet", "vae", "image_encoder"}
    assert plan["settings"]["decode_chunk_size"] == 4  # None decodes every frame at once


def test_svd_xt_parameter_counts_and_weight_bytes_come_from_the_full_size_build():
    plan = plan_memory("svd-xt", dtype="fp16")
    assert plan["params"]["unet"] == pytest.approx(1.52e9, rel=0.01)
    assert plan["params"]["image_encoder"] == pytest.approx(632e6, rel=0.01)
    assert plan["params"]["vae"] == pytest.approx(97.7e6, rel=0.01)
    # fp16: two bytes per parameter (CLIP's integer position ids aside)
    assert plan["weight_bytes"]["unet"] == 2 * plan["params"]["unet"]
    assert plan["weight_bytes"]["image_encoder"] == pytest.approx(
        2 * plan["params"]["image_encoder"], rel=1e-3)
    # SVD-XT at 576x1024, 25 frames, no offload, all frames decoded at once: decoding is the
    # famous out-of-memory stage
    assert plan["settings"]["height"] == 576 and plan["settings"]["num_frames"] == 25
    assert plan["peak_stage"] == "decoding"
    assert plan["stages"]["decoding"]["peak_bytes"] > 2 * plan["stages"]["denoising"]["peak_bytes"]


def test_settings_move_the_peaks_the_way_they_should():
    base = plan_memory("svd-xt", decode_chunk_size=8)
    chunked = plan_memory("svd-xt", decode_chunk_size=2)
    assert chunked["stages"]["decoding"]["peak_bytes"] < base["stages"]["decoding"]["peak_bytes"]
    ff = plan_memory("svd-xt", decode_chunk_size=8, forward_chunking=True)
    assert (ff["stages"]["denoising"]["activation_bytes"]
            < base["stages"]["denoising"]["activation_bytes"])
    model = plan_memory("svd-xt", decode_chunk_size=8, offload="model")
    sequential = plan_memory("svd-xt", decode_chunk_size=8, offload="sequential")
    for stage in STAGES:
        assert (sequential["stages"][stage]["peak_bytes"]
                <= model["stages"][stage]["peak_bytes"]
                <= base["stages"][stage]["peak_bytes"])
    # model offload: only the UNet is resident while it runs
    assert model["stages"]["denoising"]["weights_bytes"] == base["weight_bytes"]["unet"]
    no_cfg = plan_memory("svd-xt", decode_chunk_size=8, max_guidance_scale=1.0)
    assert (no_cfg["stages"]["denoising"]["activation_bytes"]
            < 0.6 * base["stages"]["denoising"]["activation_bytes"])


def test_fp32_doubles_the_weights_and_the_fp16_vae_encodes_in_fp32():
    half = plan_memory("svd", decode_chunk_size=2)
    full = plan_memory("svd", decode_chunk_size=2, dtype="fp32")
    assert full["weight_bytes"]["unet"] == 2 * half["weight_bytes"]["unet"]
    vae_fp32 = full["weight_bytes"]["vae"]
    # diffusers upcasts the fp16 VAE (force_upcast) to encode the conditioning image
    extra = half["stages"]["image_encoding"]["weights_bytes"] - half["stages"]["load"]["weights_bytes"]
    assert extra == vae_fp32 - half["weight_bytes"]["vae"]


def test_meta_trace_equals_the_live_tensor_bytes_of_a_real_decode():
    """The prediction's method, checked against the real thing: decode real latents with the
    tiny model's real pipeline, through diffusers' own `decode_latents` and postprocessing as
    svlab's runner calls them, and count its live tensor storage (and the CPU kernels'
    scratch) the same way."""
    from svlab.memory.tracing import LiveBytes, cpu_kernel_scratch
    from svlab.models import build_pipeline, family_of, get_spec
    from svlab.run.stages import decode

    plan = plan_memory("tiny", height=32, width=48, num_frames=4, decode_chunk_size=3,
                       dtype="fp32", device="cpu")
    spec = get_spec("tiny")
    pipe = build_pipeline(spec)
    latents = torch.zeros(1, 4, 4, 32 // 8, 48 // 8)
    live = LiveBytes(scratch=cpu_kernel_scratch)
    with live.mode:
        live.reset()
        frames = decode(pipe, family_of(spec), latents, 3)
    assert frames.shape == (1, 4, 32, 48, 3)
    assert plan["stages"]["decoding"]["activation_bytes"] == pytest.approx(live.peak, rel=0.02)


@pytest.mark.parametrize("kwargs, message", [
    (dict(height=100), "multiple of 8"),
    (dict(dtype="fp8"), "unknown dtype 'fp8'"),
    (dict(offload="disk"), "unknown offload 'disk'"),
    (dict(decode_chunk_size=0), "decode_chunk_size=0"),
    (dict(num_frames=0), "num_frames=0"),
    (dict(device="cpu", offload="model"), "no effect on a CPU run"),
])
def test_bad_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        plan_memory("tiny", **kwargs)


def test_unknown_model_names_the_registry_ids():
    with pytest.raises(ConfigError, match="svd-xt"):
        plan_memory("svd-xl")
