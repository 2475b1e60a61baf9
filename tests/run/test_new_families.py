"""LTX-2 and HunyuanVideo 1.5 end to end with their tiny models: `svlab.generate` gives the
frames (and LTX-2's sound samples) of a direct diffusers call with the same seed and settings;
the sound survives into the MP4 (probe and decoding), in sync and as long as the video, through
interpolation too, and a rerun checks it; sizes the models cannot take, and registry entries
whose size rules are broken, are refused naming the rule."""

import dataclasses

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from svlab import generate
from svlab.run.settings import load_config
from svlab.core.errors import ConfigError
from svlab.models import family_of, get_spec, resolve_model
from svlab.media import probe
from svlab.media.images import fit_image, read_image
from svlab.media.video_io import read_audio
from svlab.run.stages import to_uint8
from svlab.work.rerun import rerun

PROMPT = "a red dog runs over the street, camera moving slowly"
SETTINGS = ("model", "seed", "num_inference_steps", "height", "width", "num_frames", "fps",
            "guidance_scale", "negative_prompt")


def _config(manifest):
    return load_config("cpu-tiny", overrides={k: manifest[k] for k in SETTINGS})


@pytest.fixture(scope="module")
def ltx2_run(photo, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ltx2")
    image = folder / "photo.png"
    Image.fromarray(photo).save(image)  # a file, so that a rerun finds it
    return generate(image=image, prompt=PROMPT, config="cpu-tiny", model="tiny-ltx2", seed=3,
                    num_inference_steps=2, negative_prompt="blurry", out=folder / "x.mp4")


def test_ltx2_frames_and_sound_are_those_of_a_direct_diffusers_call(ltx2_run, photo):
    m = ltx2_run.manifest
    assert m["engine"] == "model" and m["model_info"]["family"] == "ltx2"
    c = _config(m)
    pipe = diffusers.LTX2ImageToVideoPipeline.from_pretrained(resolve_model("tiny-ltx2").path)
    pipe.set_progress_bar_config(disable=True)
    keyframe = fit_image(read_image(photo)[0], c.width, c.height)
    out = pipe(image=keyframe, prompt=PROMPT, negative_prompt=c.negative_prompt,
               height=c.height, width=c.width, num_frames=c.num_frames, frame_rate=c.fps,
               num_inference_steps=c.num_inference_steps, guidance_scale=c.guidance_scale,
               image_crf=0, output_type="np",
               generator=torch.Generator("cpu").manual_seed(c.seed))
    assert np.array_equal(ltx2_run.frames, to_uint8(out.frames[0]))
    # the model's own samples (before they were fitted to the video's length and encoded)
    from svlab.run.stages import decode_audio, denoise
    from svlab.memory import StageTracker

    family = family_of(get_spec("tiny-ltx2"))
    latents = denoise(pipe, family, keyframe, PROMPT, c, tracker=StageTracker("cpu"))
    made = decode_audio(pipe, family, latents)
    direct = out.audio[0].float().numpy()
    assert made.samples.dtype == np.float32 and np.array_equal(made.samples, direct)
    assert made.sample_rate == 24000 and made.channels == 2
    assert m["output"]["audio"]["model_samples"] == direct.shape[1]


def test_ltx2_sound_is_in_the_mp4_as_long_as_the_video(ltx2_run):
    info = probe(ltx2_run.video_path)
    assert info["has_audio"] and info["audio_codec"] == "aac"
    assert (info["audio_sample_rate"], info["audio_channels"]) == (24000, 2)
    audio = ltx2_run.manifest["output"]["audio"]
    video_seconds = 9 / 24
    assert audio["duration"] == pytest.approx(video_seconds)
    assert audio["samples"] == round(video_seconds * 24000)
    samples, rate = read_audio(ltx2_run.video_path)
    assert rate == 24000 and samples.shape[0] == 2
    assert samples.shape[1] == pytest.approx(audio["samples"], abs=1024)  # AAC frame padding
    assert np.abs(samples).max() > 1e-3  # not silence


def test_ltx2_rerun_checks_frames_and_sound(ltx2_run):
    result = rerun(ltx2_run.video_path.with_suffix(".json"), check=True)
    assert result.check.identical and result.check.audio_identical


def test_interpolation_keeps_the_sound_in_sync(photo, tmp_path):
    result = generate(image=photo, prompt=PROMPT, config="cpu-tiny", model="tiny-ltx2",
                      num_inference_steps=2, interpolation="blend", interpolation_factor=2,
                      out=tmp_path / "x.mp4")
    out = result.manifest["output"]
    assert out["frames"] == 17 and out["fps"] == 48
    assert out["audio"]["duration"] == pytest.approx(17 / 48)  # frame i still at i / fps
    assert probe(result.video_path)["has_audio"]


def test_hunyuanvideo15_frames_are_those_of_a_direct_diffusers_call(photo, tmp_path):
    result = generate(image=photo, prompt=PROMPT, config="cpu-tiny",
                      model="tiny-hunyuanvideo15", seed=3, num_inference_steps=2,
                      negative_prompt="blurry", guidance_scale=4.0, out=tmp_path / "x.mp4")
    m = result.manifest
    assert m["engine"] == "model" and m["output"]["audio"] is None
    assert not probe(result.video_path)["has_audio"]
    assert result.frames.shape == (9, 64, 64, 3)
    c = _config(m)
    pipe = diffusers.HunyuanVideo15ImageToVideoPipeline.from_pretrained(
        resolve_model("tiny-hunyuanvideo15").path)
    pipe.set_progress_bar_config(disable=True)
    pipe.guider = pipe.guider.new(guidance_scale=c.guidance_scale)
    keyframe = fit_image(read_image(photo)[0], c.width, c.height)
    direct = pipe(image=keyframe, prompt=PROMPT, negative_prompt=c.negative_prompt,
                  num_frames=c.num_frames, num_inference_steps=c.num_inference_steps,
                  generator=torch.Generator("cpu").manual_seed(c.seed),
                  output_type="np").frames[0]
    assert np.array_equal(result.frames, to_uint8(direct))


@pytest.mark.parametrize("model, overrides, accepted", [
    ("tiny-ltx2", {"height": 48}, "multiple of 32"),
    ("tiny-ltx2", {"num_frames": 10}, "8k\\+1"),
    ("tiny-hunyuanvideo15", {"width": 96}, "nearest: height=48 width=64"),
    ("tiny-hunyuanvideo15", {"num_frames": 8}, "4k\\+1"),
    # the pipeline's own bucketing (ratios rounded to 5 digits) crops 480x832 to 480x816
    ("hunyuanvideo-1.5-i2v-480p", {"height": 480, "width": 832}, "height=480 width=816"),
])
def test_sizes_and_frames_the_new_models_cannot_take(model, overrides, accepted, photo,
                                                     tmp_path):
    with pytest.raises(ConfigError, match=accepted):
        generate(image=photo, model=model, out=tmp_path / "x.mp4", **overrides)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("model, component, broken, rule", [
    ("ltx-2", "vae", {"spatial_compression_ratio": 64}, "down-sampling blocks give 32x"),
    ("hunyuanvideo-1.5-i2v-480p", "transformer", {"target_size": 650},
     "not a multiple of the VAE's 16-pixel latent patch"),
])
def test_a_registry_entry_whose_size_rules_are_broken_is_refused(model, component, broken,
                                                                 rule):
    spec = get_spec(model)
    parts = {**spec.components, component: {**spec.components[component], **broken}}
    bad = dataclasses.replace(spec, components=parts)
    with pytest.raises(ConfigError, match=f"registry entry is broken.*{rule}"):
        family_of(spec).check(bad, height=spec.height, width=spec.width,
                              num_frames=spec.num_frames)
