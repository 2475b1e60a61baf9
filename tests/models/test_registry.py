import pytest
import torch

from svlab.core.errors import ConfigError
from svlab.models import build_modules, build_pipeline, family_of, get_spec, list_specs


def test_registry_ids_and_defaults():
    specs = {s.id: s for s in list_specs() if s.family == "svd"}
    assert list(specs) == ["svd", "svd-xt", "svd-xt-1-1", "tiny", "mini"]
    assert specs["svd"].num_frames == 14 and specs["svd"].components["unet"]["num_frames"] == 14
    assert specs["svd-xt"].num_frames == 25 and specs["svd-xt-1-1"].num_frames == 25
    assert specs["svd-xt"].hub_id == "stabilityai/stable-video-diffusion-img2vid-xt"
    assert specs["tiny"].hub_id is None
    for spec in specs.values():
        assert family_of(spec).pipeline_class == "StableVideoDiffusionPipeline"
        assert set(spec.components) == {"unet", "vae", "image_encoder", "scheduler",
                                        "feature_extractor"}
        # the image encoder's projection feeds the UNet's cross-attention
        assert (spec.components["image_encoder"]["projection_dim"]
                == spec.components["unet"]["cross_attention_dim"])


def test_unknown_id_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown model 'svd_xt' \(did you mean 'svd-xt'\?\)"
                                          r".*accepted: cogvideox-5b-i2v, .*svd, svd-xt"):
        get_spec("svd_xt")


def test_full_size_parameter_counts_on_meta():
    """SVD-XT's UNet has 1.52e9 parameters; counted without allocating them."""
    with torch.device("meta"):
        modules = build_modules(get_spec("svd-xt"), dtype=torch.float16)
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items()}
    assert counts["unet"] == 1_524_623_082
    assert 9.7e7 < counts["vae"] < 9.8e7  # temporal-decoder VAE
    assert 6.3e8 < counts["image_encoder"] < 6.4e8  # CLIP ViT-H/14 with projection
    assert all(p.dtype == torch.float16 for m in modules.values() for p in m.parameters())
    assert torch.get_default_dtype() == torch.float32  # restored


def test_builds_under_fake_tensor_mode():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        modules = build_modules(get_spec("svd"), dtype=torch.float16)
    assert sum(p.numel() for p in modules["unet"].parameters()) == 1_524_623_082


def test_random_weights_are_deterministic():
    a = build_pipeline(get_spec("tiny"))
    b = build_pipeline(get_spec("tiny"))
    for name in ("unet", "vae", "image_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.scheduler.config.prediction_type == "v_prediction"
    assert a.scheduler.config.use_karras_sigmas
