"""One clip: the config's encoding and interpolation applied, progress events that can stop a
run at every stage, and the model chosen the way the config names it."""

import numpy as np
import pytest

from svlab.run.settings import load_config
from svlab.core.errors import ModelUnavailableError
from svlab.memory import StageTracker
from svlab.media import probe, read_video
from svlab.run.clip import (
    encode_clip, generate_clip, interpolate_frames, model_to_load, unload_models,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    yield
    unload_models()


def test_encode_clip_follows_the_processing_settings(tmp_path):
    frames = np.random.default_rng(2).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    lossless = load_config("cpu-tiny", overrides={"lossless": True})
    out = encode_clip(frames, tmp_path / "p.mp4", 6, lossless, StageTracker("cpu"))
    assert np.array_equal(read_video(out)[0], frames)
    full = load_config("cpu-tiny", overrides={"pixel_format": "yuv444p", "quality": 0})
    tracker = StageTracker("cpu")
    out = encode_clip(frames, tmp_path / "q.mp4", 6, full, tracker)
    assert probe(out)["pixel_format"] == "yuv444p" and "encoding" in tracker.table()


def test_interpolation_reports_each_frame_and_can_be_stopped(tmp_path):
    frames = np.random.default_rng(3).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    config = load_config("cpu-tiny", overrides={"interpolation": "blend",
                                                "interpolation_factor": 2, "fps": 5})
    events = []
    out, fps = interpolate_frames(frames, config, StageTracker("cpu"), events.append)
    assert out.shape[0] == 7 and fps == 10.0
    assert [e["step"] for e in events] == list(range(1, 8))
    assert np.array_equal(out[::2], frames)

    class Stop(Exception):
        pass

    def stop(event):
        if event["step"] == 3:
            raise Stop()

    with pytest.raises(Stop):
        interpolate_frames(frames, config, StageTracker("cpu"), stop)


def test_encoding_can_be_stopped_and_leaves_nothing(tmp_path):
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    config = load_config("cpu-tiny")

    def stop(event):
        if event["stage"] == "encoding" and event["step"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_clip(frames, tmp_path / "x.mp4", 6, config, StageTracker("cpu"), stop)
    assert list(tmp_path.iterdir()) == []


def test_events_come_from_every_stage_of_a_model_run(photo):
    from svlab.media.images import load_image

    config = load_config("cpu-tiny", overrides={"num_frames": 4, "num_inference_steps": 2})
    events = []
    clip = generate_clip(load_image(photo, 64, 64), config, callback=events.append)
    assert clip.record.engine == "model" and clip.frames.shape == (4, 64, 64, 3)
    stages = [e["stage"] for e in events]
    assert stages == ["load", "denoising", "denoising", "decoding"]


def test_the_fallback_engine_when_asked_for_or_when_auto_finds_no_weights(photo):
    from svlab.media.images import load_image

    image = load_image(photo, 64, 64)
    asked = generate_clip(image, load_config("cpu-tiny", overrides={"model": "fallback"}))
    assert asked.record.engine == "fallback" and "asked for" in asked.record.fallback_reason
    auto = load_config("cpu-tiny", overrides={"model": "auto"})
    assert model_to_load(auto)[0] is None  # no svd-xt weights on this machine
    clip = generate_clip(image, auto)
    assert clip.record.engine == "fallback" and "no weights" in clip.record.fallback_reason


def test_a_named_model_that_cannot_load_raises_unless_fallback_is_allowed(photo, tmp_path):
    from svlab.media.images import load_image

    config = load_config("cpu-tiny", overrides={"model": str(tmp_path / "none")})
    with pytest.raises(ModelUnavailableError):
        generate_clip(load_image(photo, 64, 64), config)
    clip = generate_clip(load_image(photo, 64, 64), config, allow_fallback=True)
    assert clip.record.engine == "fallback"
