import json

import numpy as np
import pytest
import torch
from PIL import Image

import svlab
from svlab.core.config import setting_names
from svlab.core.errors import InputError, ModelUnavailableError
from svlab.media import probe
from svlab.media.images import load_image
from svlab.core.records import GenerationResult
from svlab.run.clip import unload_models
from svlab.render.service import generate


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    unload_models()


def test_tiny_model_end_to_end(photo, tiny_config, tmp_path):
    out = tmp_path / "clip.mp4"
    result = svlab.generate(image=photo, config=tiny_config, out=out)
    assert isinstance(result, GenerationResult)
    assert result.frames.dtype == np.uint8 and result.frames.shape == (4, 64, 64, 3)
    assert result.video_path == out and out.is_file()
    facts = probe(out)
    assert (facts["codec"], facts["pixel_format"], facts["frames"]) == ("h264", "yuv420p", 4)
    assert facts["fps"] == pytest.approx(6)
    # the manifest is the JSON file beside the video
    assert json.loads(out.with_suffix(".json").read_text()) == result.manifest
    m = result.manifest
    assert m["engine"] == "model" and m["fallback_reason"] is None
    for name in setting_names():
        assert name in m
    assert m["num_frames"] == 4 and m["seed"] == 42 and m["model"] == "tiny"
    assert m["model_info"]["model"] == "tiny" and m["model_info"]["dtype"] == "fp32"
    assert m["device"] == "cpu" and m["attention_backend"] == "sdpa"
    for stage in ("load", "image_encoding", "denoising", "decoding", "encoding"):
        assert m["stages"][stage]["seconds"] > 0
        assert m["stages"][stage]["peak_bytes"] is not None
    assert m["environment"]["packages"]["diffusers"]
    assert m["output"] == {"video": "clip.mp4", "frames": 4, "fps": 6.0, "width": 64,
                           "height": 64, "duration": 0.667, "audio": None}


def test_same_seed_same_frames_and_matches_diffusers(photo, tiny_config, tmp_path):
    from diffusers import StableVideoDiffusionPipeline

    from svlab.models import resolve_model

    first = generate(image=photo, config=tiny_config, out=tmp_path / "a.mp4")
    second = generate(image=photo, config=tiny_config, out=tmp_path / "b.mp4")
    assert np.array_equal(first.frames, second.frames)
    other_seed = generate(image=photo, config=tiny_config, out=tmp_path / "c.mp4", seed=1)
    assert not np.array_equal(first.frames, other_seed.frames)

    pipe = StableVideoDiffusionPipeline.from_pretrained(resolve_model("tiny").path)
    c = tiny_config
    direct = pipe(load_image(photo, c.width, c.height), height=c.height, width=c.width,
                  num_frames=c.num_frames, num_inference_steps=c.num_inference_steps,
                  fps=c.fps, motion_bucket_id=c.motion_bucket_id,
                  noise_aug_strength=c.noise_aug_strength,
                  min_guidance_scale=c.min_guidance_scale,
                  max_guidance_scale=c.max_guidance_scale,
                  generator=torch.Generator("cpu").manual_seed(c.seed), output_type="np").frames[0]
    assert np.array_equal(first.frames, (direct * 255).round().astype(np.uint8))


def test_a_named_model_that_is_missing_is_an_error_and_writes_nothing(photo, tiny_config,
                                                                       tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelUnavailableError, match=f"model folder {missing} does not exist"):
        generate(image=photo, config=tiny_config, out=tmp_path / "out" / "x.mp4",
                 model=str(missing))
    assert not (tmp_path / "out").exists()


def test_a_named_model_falls_back_only_when_allowed(photo, tiny_config, tmp_path):
    missing = tmp_path / "no-such-model"
    result = generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4",
                      model=str(missing), allow_fallback=True)
    m = result.manifest
    assert m["engine"] == "fallback"
    assert str(missing) in m["fallback_reason"]
    assert result.frames.shape == (4, 64, 64, 3)
    assert probe(result.video_path)["frames"] == 4


def test_corrupt_checkpoint_is_an_error_unless_fallback_is_allowed(photo, tiny_config,
                                                                  tmp_path):
    from svlab.models import write_tiny_model

    folder = write_tiny_model(tmp_path / "broken")
    weights = next(folder.glob("unet/*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelUnavailableError, match=f"cannot load {folder}"):
        generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4", model=str(folder))
    assert not (tmp_path / "x.mp4").exists()
    result = generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4",
                      model=str(folder), allow_fallback=True)
    assert result.manifest["engine"] == "fallback"
    assert "could not be loaded" in result.manifest["fallback_reason"]


def test_a_bug_in_loading_is_not_turned_into_a_fallback(photo, tiny_config, tmp_path,
                                                        monkeypatch):
    """Only "this model cannot run here" falls back; a programming error propagates."""
    from diffusers import StableVideoDiffusionPipeline

    def buggy(*args, **kwargs):
        raise TypeError("an API changed")

    monkeypatch.setattr(StableVideoDiffusionPipeline, "from_pretrained", buggy)
    with pytest.raises(TypeError, match="an API changed"):
        generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4", allow_fallback=True)
    assert list(tmp_path.iterdir()) == []


def test_auto_without_weights_uses_fallback_and_says_why(photo, tmp_path):
    result = generate(image=photo, config="standard", out=tmp_path / "x.mp4", height=64,
                      width=64, num_frames=3)
    assert result.manifest["engine"] == "fallback"
    assert "svd" in result.manifest["fallback_reason"]
    assert result.frames.shape == (3, 64, 64, 3)


def test_interpolation_stage(photo, tiny_config, tmp_path):
    result = generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4",
                      interpolation="blend", interpolation_factor=2)
    assert result.frames.shape[0] == 7
    assert result.manifest["output"]["fps"] == 12.0
    assert "interpolation" in result.manifest["stages"]
    assert probe(result.video_path)["frames"] == 7


def test_callback_sees_every_step(photo, tiny_config, tmp_path):
    events = []
    generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4", callback=events.append)
    assert [e["step"] for e in events if e["stage"] == "denoising"] == [1, 2, 3, 4]


def test_image_is_cropped_not_distorted():
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 50, 100))  # blue left quarter is cropped away
    out = load_image(wide, 64, 64)
    assert out.size == (64, 64)
    assert np.asarray(out)[:, :, 2].max() < 30


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "give an image"),
        ({"prompt": "   "}, "give an image"),
        ({"image": "missing.png"}, "image file not found: missing.png"),
        ({"image": np.zeros((4, 4), np.uint8)}, r"uint8 \(H, W, 3 or 4\)"),
        ({"image": 3}, "image must be a path"),
    ],
)
def test_invalid_input_is_an_error_and_writes_nothing(kwargs, message, tmp_path):
    out = tmp_path / "new-folder" / "x.mp4"
    with pytest.raises(InputError, match=message):
        generate(config="cpu-tiny", out=out, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_image_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image"):
        generate(image=bad, config="cpu-tiny", out=tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_output_must_be_mp4(photo, tmp_path):
    with pytest.raises(InputError, match=r"must end in \.mp4"):
        generate(image=photo, config="cpu-tiny", out=tmp_path / "x.avi")


def test_no_video_is_left_without_its_manifest(photo, tmp_path, monkeypatch):
    import svlab.media.outputs

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(svlab.media.outputs, "manifest_text", broken)
    with pytest.raises(OSError, match="disk full"):
        generate(image=photo, config="cpu-tiny", model="fallback", out=tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_leaves_an_earlier_result_untouched(photo, tmp_path, monkeypatch):
    import svlab.media.outputs

    out = tmp_path / "x.mp4"
    first = generate(image=photo, config="cpu-tiny", model="fallback", out=out)
    before = out.read_bytes(), out.with_suffix(".json").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(svlab.media.outputs, "manifest_text", broken)
    with pytest.raises(OSError, match="disk full"):
        generate(image=photo, config="cpu-tiny", model="fallback", seed=7, out=out)
    assert (out.read_bytes(), out.with_suffix(".json").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "x.mp4"]
    assert first.video_path == out


def test_a_manifest_path_that_is_a_folder_is_refused_before_any_work(photo, tmp_path):
    (tmp_path / "x.json").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        generate(image=photo, config="cpu-tiny", model="fallback", out=tmp_path / "x.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_inputs_are_recorded_by_content(photo, tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    from_file = generate(image=path, config="cpu-tiny", model="fallback", out=tmp_path / "a.mp4")
    from_array = generate(image=photo, config="cpu-tiny", model="fallback",
                          out=tmp_path / "b.mp4", image_name="upload.png")
    a, b = from_file.manifest["inputs"]["image"], from_array.manifest["inputs"]["image"]
    assert a["image"] == str(path) and a["source"] == "file" and len(a["sha256"]) == 64
    assert b["source"] == "array" and b["name"] == "upload.png"
    assert a["pixels_sha256"] == b["pixels_sha256"]  # the same picture, however it came
    assert (b["width"], b["height"]) == (photo.shape[1], photo.shape[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_answers_with_fallback_and_says_why(photo, tiny_config, tmp_path):
    with pytest.raises(ModelUnavailableError, match="no usable CUDA device"):
        generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4", device="cuda")
    result = generate(image=photo, config=tiny_config, out=tmp_path / "x.mp4", device="cuda",
                      allow_fallback=True)
    assert result.manifest["engine"] == "fallback"
    assert "no usable CUDA device" in result.manifest["fallback_reason"]
    assert result.video_path.is_file()
