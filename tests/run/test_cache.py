"""Step caching on each tiny transformer family: every method does less denoiser work than a
run without it, measured by counting the linear layers the transformer blocks actually run
(forward hooks, not timers), and a run with caching off gives the frames it gave before.

The hooks sit on the blocks' linear layers, not on the blocks themselves: diffusers' cache
hooks replace a block's `forward`, so a block whose output is reused is still *called* (and a
hook on it still fires); what is skipped is the work inside it."""

import numpy as np
import pytest
import torch
from PIL import Image

from svlab.core.errors import ConfigError
from svlab.memory import StageTracker
from svlab.models import VideoModelLoader
from svlab.run.settings import load_config
from svlab.run.stages import denoise

FAMILIES = ("tiny-wan", "tiny-ltx", "tiny-cogvideox")
# each method's parameter at a strength that skips work in 8 steps
METHODS = {"first_block": 0.2, "taylorseer": 2, "pyramid_attention": 2}


@pytest.fixture(scope="module", params=FAMILIES)
def loaded(request):
    """(loader, counter of linear-layer calls inside the transformer blocks)."""
    config = load_config("cpu-tiny", {"model": request.param})
    loader = VideoModelLoader(config)
    loader.load()
    denoiser = getattr(loader.pipeline, loader.family.denoiser)
    blocks = getattr(denoiser, "blocks", None) or denoiser.transformer_blocks
    calls = [0]

    def count(module, args, output):
        calls[0] += 1

    for layer in blocks.modules():
        if isinstance(layer, torch.nn.Linear):
            layer.register_forward_hook(count)
    yield loader, calls
    loader.unload()


def _run(loader, calls, **settings):
    """(latents, linear-layer calls in the blocks) of one 8-step denoising."""
    config = load_config("cpu-tiny", {"model": loader.info.model, "num_inference_steps": 8,
                                      **settings})
    image = Image.fromarray(np.full((config.height, config.width, 3), 90, np.uint8))
    calls[0] = 0
    latents = denoise(loader.pipeline, loader.family, image, "a dog", config,
                      tracker=StageTracker("cpu", release_heap=False))
    return latents, calls[0]


def test_every_method_skips_work_and_off_is_unchanged(loaded):
    loader, calls = loaded
    before, full = _run(loader, calls)
    assert full > 0
    for method, strength in METHODS.items():
        latents, work = _run(loader, calls, cache=method, cache_threshold=strength)
        assert work < full, f"{method} computed {work} of {full} block layers"
        assert not torch.equal(latents, before), method
    after, work = _run(loader, calls)  # each cache is taken off after its run
    assert work == full and torch.equal(after, before)
    assert not denoiser_caching(loader)


def denoiser_caching(loader) -> bool:
    return getattr(loader.pipeline, loader.family.denoiser).is_cache_enabled


@pytest.mark.parametrize("settings, words", [
    ({"cache": "teacache"},
     ["unknown cache 'teacache'", "first_block, pyramid_attention, taylorseer"]),
    ({"cache": "first_block", "cache_threshold": 0.0}, ["out of range", "0.001 to 1.0"]),
    ({"cache": "taylorseer", "cache_threshold": 2.5}, ["whole number", "2 to 50"]),
    ({"cache_threshold": 0.1}, ["needs a cache method"]),
    ({"cache": "first_block", "model": "tiny"}, ["svd family", "accepted: none"]),
])
def test_bad_cache_settings_are_refused_in_one_line(settings, words):
    with pytest.raises(ConfigError) as e:
        load_config("cpu-tiny", settings)
    message = str(e.value)
    assert "\n" not in message
    for word in words:
        assert word in message
