"""The tracer's two refinements: CPU kernels' scratch, and replaying a VAE's repeated calls."""

import pytest

torch = pytest.importorskip("torch")

from svlab.memory.predict import meta_model, normalise_settings  # noqa: E402
from svlab.memory.replay import replaying  # noqa: E402
from svlab.memory.tracing import (  # noqa: E402
    cpu_attention_scratch, cpu_conv_scratch, tracing,
)
from svlab.models.build import quiet_libraries  # noqa: E402


def conv_args(x_shape, w_shape, padding=0):
    x = torch.empty(x_shape, device="meta")
    w = torch.empty(w_shape, device="meta")
    dims = len(w_shape) - 2
    return x, w, None, [1] * dims, [padding] * dims, [1] * dims, False, [0] * dims, 1


def test_native_3d_convolution_counts_its_column_matrix():
    # a small 3D convolution runs PyTorch's native kernel on a CPU (oneDNN only past a size)
    x, w, *rest = conv_args((1, 8, 11, 66, 66), (8, 8, 3, 3, 3))
    out_positions = 9 * 64 * 64
    assert cpu_conv_scratch(x, w, *rest) == 8 * 27 * out_positions * 4
    # a 1x1x1 unpadded kernel reads its input in place: no columns
    assert cpu_conv_scratch(*conv_args((1, 8, 9, 64, 64), (8, 8, 1, 1, 1))) == 0


def test_onednn_convolution_counts_its_reordered_input_and_weights():
    x, w, *rest = conv_args((2, 8, 11, 66, 66), (8, 8, 3, 3, 3))
    assert cpu_conv_scratch(x, w, *rest) == (x.numel() + w.numel()) * 4


def test_flash_attention_scratch_is_a_score_block_per_thread():
    q = torch.empty(1, 2, 1000, 16, device="meta")
    k = torch.empty(1, 2, 300, 16, device="meta")
    per_thread = (256 * 300 + 2 * 256 + 256 * 16) * 4
    assert cpu_attention_scratch(q, k, k) == torch.get_num_threads() * per_thread


def test_a_cpu_plan_counts_scratch_and_a_cuda_plan_does_not():
    from svlab.memory import plan_memory

    cpu = plan_memory("tiny-wan", dtype="fp32", device="cpu")["stages"]["decoding"]
    cuda = plan_memory("tiny-wan", dtype="fp32", device="cuda")["stages"]["decoding"]
    # the tiny VAE's decoder runs small 3D convolutions: columns 27x their input on a CPU
    assert cpu["activation_bytes"] > 2 * cuda["activation_bytes"]


def trace(model, stage, replay: bool, **settings):
    meta = meta_model(model, "bf16")
    s = normalise_settings(model, dtype="bf16", offload="none", decode_chunk_size=None,
                           forward_chunking=False, max_guidance_scale=3.0, device="cuda",
                           height=settings.get("height"), width=settings.get("width"),
                           num_frames=settings.get("num_frames"),
                           vae_tiling=settings.get("vae_tiling", False))
    vae = meta.modules["vae"]
    calls = {"decoder": 0, "encoder": 0}
    for name in calls:
        forward = getattr(vae, name).forward

        def counted(*args, _name=name, _forward=forward, **kwargs):
            calls[_name] += 1
            return _forward(*args, **kwargs)

        getattr(vae, name).forward = counted
    try:
        with quiet_libraries(), tracing(meta.modules.values()) as live:
            if replay:
                with replaying([vae.encoder, vae.decoder], live):
                    steps = meta.family.trace(stage, meta.modules, meta.dtype, s, live)
            else:
                steps = meta.family.trace(stage, meta.modules, meta.dtype, s, live)
    finally:
        for name in calls:
            del getattr(vae, name).forward
    return [step.activation_bytes for step in steps], calls


@pytest.mark.parametrize("stage", ["conditioning", "decoding"])
@pytest.mark.parametrize("settings", [
    dict(num_frames=33),
    dict(height=320, width=320, num_frames=17, vae_tiling=True),
])
def test_replayed_vae_calls_count_what_running_every_call_counts(stage, settings):
    """Wan's causal VAE runs once per chunk of frames (and per tile): replaying the repeats
    gives the very bytes of tracing them all, with fewer calls traced."""
    full, ran_all = trace("tiny-wan", stage, replay=False, **settings)
    replayed, ran_some = trace("tiny-wan", stage, replay=True, **settings)
    assert replayed == full
    assert sum(ran_some.values()) < sum(ran_all.values())


def test_a_call_that_keeps_a_view_of_its_output_is_never_replayed():
    """A call whose effect the record cannot reproduce (here it keeps a view of its output in
    a list) runs every time, so nothing it holds is missed."""

    class KeepsAView(torch.nn.Module):
        def forward(self, x, kept):
            out = x * 2
            kept.append(out[:, :1])
            return out

    module = KeepsAView()
    runs = []
    forward = module.forward
    module.forward = lambda *a, **k: (runs.append(1), forward(*a, **k))[1]
    with tracing() as live, replaying([module], live):
        kept = []
        for _ in range(4):
            kept.clear()
            module(torch.empty(4, 1000), kept)
    assert len(runs) == 4


def test_a_steady_call_is_replayed_with_its_peak_and_its_output():
    class Doubles(torch.nn.Module):
        def forward(self, x):
            scratch = x * 3  # dies inside the call: counted in its peak only
            return scratch[:0].sum() + x * 2

    module = Doubles()
    runs = []
    forward = module.forward
    module.forward = lambda *a, **k: (runs.append(1), forward(*a, **k))[1]
    peaks = []
    with tracing() as live, replaying([module], live):
        x = torch.empty(1000)
        for _ in range(3):
            live.reset()
            out = module(x)
            peaks.append(live.peak)
            del out
    assert len(runs) == 1
    assert peaks[0] == peaks[1] == peaks[2] >= 4000 + 4000 + 4000


def test_weights_cast_by_layerwise_casting_are_not_activations():
    """diffusers' layerwise casting swaps each layer's weights for a copy before it runs and
    back after: the copies are weights (counted by the planner apart), not activations."""
    from diffusers.hooks import apply_layerwise_casting

    def peak(cast: bool) -> int:
        with torch.device("meta"):
            model = torch.nn.Sequential(*[torch.nn.Linear(256, 256) for _ in range(4)])
        if cast:
            apply_layerwise_casting(model, storage_dtype=torch.float8_e4m3fn,
                                    compute_dtype=torch.float32)
        weights = [*model.parameters()]
        with tracing([model], recast=cast) as live:
            model(torch.empty(8, 256))
            model(torch.empty(8, 256))
            live.sweep()
        assert all(w.untyped_storage()._cdata in live._ignored for w in weights)
        return live.peak

    layer = 256 * 256 * 4  # one layer's weight in float32
    # beside the activations, one layer's float32 copy while it runs, never the four casts back
    assert peak(False) < layer < peak(True) < peak(False) + layer + 256 * 4
