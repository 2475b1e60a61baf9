import json

import pytest
import torch

from svlab.core.config import PROFILES, VideoConfig, setting_names
from svlab.run.settings import load_config
from svlab.core.errors import ConfigError
from svlab.run.settings import load_config


def test_profiles_hold_the_reference_values():
    standard = load_config("standard")
    assert (standard.use_fp16, standard.num_inference_steps, standard.height, standard.width,
            standard.num_frames, standard.fps) == (True, 25, 576, 1024, 25, 6)
    low = load_config("low-vram")
    assert (low.use_fp16, low.num_inference_steps, low.height, low.width,
            low.num_frames, low.fps) == (True, 15, 512, 512, 15, 6)
    assert low.offload == "model" and low.decode_chunk_size is not None
    tiny = load_config("cpu-tiny")
    assert tiny.model == "tiny" and tiny.device == "cpu"


def test_precedence_profile_then_file_then_overrides(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("profile: low-vram\nnum_frames: 9\nseed: 3\ncodec: libx264\n")
    config = load_config(profile=None, file=path, overrides={"seed": 7})
    assert config.height == 512  # from the file's profile
    assert config.num_frames == 9  # file beats profile
    assert config.seed == 7  # overrides beat file
    assert load_config("standard", file=path).height == 576  # explicit profile beats file's


def test_json_file_and_processing_fields(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"interpolation": "blend", "interpolation_factor": 2}))
    config = load_config(file=path)
    assert config.processing.interpolation == "blend"
    assert config.to_dict()["interpolation_factor"] == 2


def test_to_dict_names_every_setting_once():
    assert sorted(load_config().to_dict()) == sorted(setting_names())


def test_replace_validates():
    config = load_config("cpu-tiny")
    assert config.replace(num_frames=3, quality=0).num_frames == 3
    with pytest.raises(ConfigError, match="multiple of 8"):
        config.replace(width=66)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"height": 577}, r"height=577 .*multiple of 8 \(nearest: 576\)"),
        ({"width": 0}, "width=0"),
        ({"num_frames": 0}, r"num_frames=0 is out of range; accepted: from 1 to 1024"),
        ({"num_inference_steps": -1}, "num_inference_steps=-1"),
        ({"fps": 0}, "fps=0"),
        ({"num_frame": 3}, r"unknown setting 'num_frame' \(did you mean 'num_frames'\?\)"),
        ({"fps": "6"}, r"fps must be int, got str '6'"),
        ({"use_fp16": 1}, r"use_fp16 must be bool"),
        ({"seed": 1.5}, r"seed must be int"),
        ({"offload": "cpu"}, r"unknown offload 'cpu'.*accepted: block, leaf, model, none, sequential"),
        ({"dtype": "float16"}, r"unknown dtype 'float16'"),
        ({"motion_bucket_id": 5000}, r"motion_bucket_id=5000 is out of range"),
        ({"min_guidance_scale": 4.0}, r"must not exceed max_guidance_scale"),
        ({"decode_chunk_size": 0}, r"decode_chunk_size=0"),
        ({"interpolation_factor": 2}, r"need an interpolation method"),
        ({"interpolation": "flow", "interpolation_factor": 2, "target_fps": 24.0}, "not both"),
        ({"codec": "h265"}, r"unknown codec 'h265'; accepted: libx264"),
    ],
)
def test_validation_messages(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_unknown_profile_suggests_nearest():
    with pytest.raises(ConfigError, match=r"unknown profile 'low_vram' \(did you mean 'low-vram'\?\)"):
        load_config("low_vram")


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="must end in .yaml"):
        load_config(file=tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(file=tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid"):
        load_config(file=broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(file=listing)


def test_ints_are_accepted_for_floats():
    assert VideoConfig(noise_aug_strength=1).noise_aug_strength == 1.0
    assert isinstance(VideoConfig(noise_aug_strength=1).noise_aug_strength, float)


def test_every_profile_is_valid():
    for name in PROFILES:
        load_config(name)


def test_the_model_defaults_lie_between_the_profile_and_the_file(tmp_path):
    """profile < the model's own defaults < file < explicit settings, in one place."""
    path = tmp_path / "s.yaml"
    path.write_text("num_frames: 5\nfps: 9\n")
    config = load_config("standard", {"model": "tiny-wan", "fps": 12}, file=path)
    assert (config.height, config.width) == (64, 64)  # the model's, over the profile's
    assert config.num_frames == 5  # the file's, over the model's 9
    assert config.fps == 12  # explicit, over the file's
    assert config.num_inference_steps == 4 and config.guidance_scale == 5.0


@pytest.mark.parametrize("model", ["tiny", "tiny-ltx", "tiny-wan", "tiny-cogvideox"])
def test_a_tiny_model_named_alone_takes_its_own_size(model):
    from svlab.models import get_spec

    spec = get_spec(model)
    for config in (load_config({"model": model}), load_config("cpu-tiny", {"model": model}),
                   load_config(None, {"model": model})):
        assert (config.height, config.width, config.num_frames, config.fps) == (
            spec.height, spec.width, spec.num_frames, spec.fps)
        assert config.num_inference_steps == 4 and config.use_fp16 is False


def test_every_front_builds_its_config_through_load_config():
    """The notebooks' helper and the panel take `auto` and the model's defaults too."""
    from svlab.face.display import config_from

    assert config_from("cpu-tiny", model="tiny-wan").num_frames == 9
    assert config_from("auto", model="tiny").height == 64


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_auto_profile_without_a_gpu_or_budget_is_standard(monkeypatch):
    monkeypatch.delenv("SVLAB_VRAM", raising=False)
    assert load_config("auto") == load_config("standard")


def test_auto_profile_fits_the_budget(monkeypatch):
    from svlab.memory import plan_memory

    monkeypatch.setenv("SVLAB_VRAM", "8GiB")
    config = load_config("auto", {"model": "svd-xt", "seed": 3})
    assert (config.height, config.width, config.num_frames, config.seed) == (576, 1024, 25, 3)
    plan = plan_memory("svd-xt", height=576, width=1024, num_frames=25,
                       offload=config.offload, decode_chunk_size=config.decode_chunk_size,
                       forward_chunking=config.forward_chunking)
    assert plan["peak_bytes"] <= 8 * 2**30
    assert config.offload != "none"  # SVD-XT at 1024x576 does not fit 8 GiB without offload


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("name", ["noise_aug_strength", "min_guidance_scale",
                                  "max_guidance_scale", "target_fps"])
def test_float_settings_must_be_finite(name, value):
    with pytest.raises(ConfigError, match=f"{name} must be a finite number"):
        load_config(overrides={name: value, "interpolation": "blend"})


@pytest.mark.parametrize("overrides, message", [
    ({"num_frames": 10**6}, r"num_frames=1000000 is out of range; accepted: from 1 to 1024"),
    ({"num_inference_steps": 10**6}, "num_inference_steps=1000000 is out of range"),
    ({"height": 10**20}, "height=100000000000000000000 is out of range"),
    ({"seed": 10**23}, "seed=.* is out of range"),
    ({"fps": 10**6}, "fps=1000000 is out of range"),
    ({"interpolation": "flow", "target_fps": 1e6}, "target_fps=1000000.0 is out of range"),
    ({"max_guidance_scale": 1e9}, "max_guidance_scale=.* is out of range"),
])
def test_work_is_bounded(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_nan_in_a_yaml_file_is_refused(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("noise_aug_strength: .nan\n")
    with pytest.raises(ConfigError, match="finite"):
        load_config(file=path)


def test_a_binary_settings_file_is_a_clear_error(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(file=path)


def test_processor_and_config_agree_on_their_choices():
    from svlab.core.config import INTERPOLATION_METHODS, PIXEL_FORMATS
    from svlab.media import interpolate, video_io

    assert set(INTERPOLATION_METHODS) == {"none", *interpolate.METHODS}
    assert PIXEL_FORMATS == video_io.PIXEL_FORMATS
