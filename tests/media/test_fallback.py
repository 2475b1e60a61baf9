"""The fallback engine: right shape, deterministic, a card with text or a camera move."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from svlab.run.settings import load_config
from svlab.core.errors import InputError
from svlab.media.fallback import fallback_frames, seed_color
from svlab.media import probe, read_video
from svlab.media.images import load_image

SIZE = dict(width=96, height=64, num_frames=8, fps=6)


def photo(width=160, height=120):
    """A smooth, structured picture (sky, ground, a disc) rather than noise."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 60 + 120 * x / width
    image[..., 1] = np.where(y < height / 2, 150, 90)
    image[..., 2] = 200 - 100 * y / height
    disc = (x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (height / 6) ** 2
    image[disc] = (250, 220, 40)
    return image


def test_card_frames_have_the_requested_shape_and_text():
    frames = fallback_frames(**SIZE, seed=3, text="森林探险")
    assert frames.dtype == np.uint8 and frames.shape == (8, 64, 96, 3)
    background = np.array(seed_color(3))
    assert (frames[0, 0, 0] == background).all()
    text_area = frames[0, 10:50, 10:86]
    assert (np.abs(text_area.astype(int) - background).sum(-1) > 100).sum() > 50


def test_card_is_visibly_a_video():
    frames = fallback_frames(**SIZE, seed=0)
    bar = frames[:, -1, :, :].astype(int)  # the progress bar along the bottom row
    painted = (np.abs(bar - frames[0, 0, 0]).sum(-1) > 100).sum(-1)
    assert (np.diff(painted) > 0).all() and painted[-1] == 96


def test_same_seed_same_frames_and_seeds_differ():
    first = fallback_frames(**SIZE, seed=7, text="hello")
    assert np.array_equal(first, fallback_frames(**SIZE, seed=7, text="hello"))
    assert seed_color(7) != seed_color(8)
    blue = fallback_frames(**SIZE, seed=7, color=(0, 0, 255))
    assert tuple(blue[0, 0, 0]) == (0, 0, 255)


def test_image_gets_a_gentle_deterministic_camera_move():
    image = photo()
    frames = fallback_frames(**SIZE, seed=1, image=image)
    assert frames.shape == (8, 64, 96, 3)
    assert np.array_equal(frames, fallback_frames(**SIZE, seed=1, image=image))
    steps = np.abs(np.diff(frames.astype(int), axis=0)).mean(axis=(1, 2, 3))
    assert (steps[1:-1] > 0).all() and steps.max() < 12  # moving, but gently
    # it still looks like the picture: the wide end of the move is the image, resized
    wide = np.asarray(Image.fromarray(image[0:120, 0:160]).resize((96, 64), Image.BILINEAR))
    ends = [np.abs(frames[i].astype(int) - wide).mean() for i in (0, -1)]
    assert min(ends) < 6
    other = fallback_frames(**SIZE, seed=2, image=image)
    assert not np.array_equal(frames, other)  # the seed picks the direction


def test_image_from_a_path_or_pil(tmp_path):
    Image.fromarray(photo()).save(tmp_path / "photo.png")
    from_path = fallback_frames(**SIZE, seed=4, image=tmp_path / "photo.png")
    from_pil = fallback_frames(**SIZE, seed=4, image=Image.fromarray(photo()).convert("RGBA"))
    assert np.array_equal(from_path, from_pil)


def test_portrait_image_is_cropped_not_stretched():
    tall = np.zeros((300, 100, 3), np.uint8)
    tall[140:160] = 255  # a bright band across the middle
    frames = fallback_frames(width=64, height=64, num_frames=2, fps=6, seed=0, image=tall)
    assert frames[0, 28:36].mean() > 100 and frames[0, :5].mean() < 10


@pytest.mark.parametrize("kwargs, words", [
    (dict(SIZE, width=0), "width must be a positive integer"),
    (dict(SIZE, num_frames=2.0), "num_frames must be a positive integer"),
    (dict(SIZE, fps=0), "fps must be a positive number"),
    (dict(SIZE, seed=-1), "seed must be a non-negative integer"),
    (dict(SIZE, image="/no/such/image.png"), "not found"),
    (dict(SIZE, image=np.zeros((8, 8), np.uint8)), "H x W x 3"),
    (dict(SIZE, color="nope"), "not a colour"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(InputError) as err:
        fallback_frames(**kwargs)
    assert words in str(err.value)


def test_unreadable_image(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read image"):
        fallback_frames(**SIZE, image=bad)


def test_the_service_fallback_follows_the_config(tmp_path):
    from svlab.render.service import generate

    config = load_config("cpu-tiny", overrides={"model": "fallback", "num_frames": 5, "fps": 8,
                                                "lossless": True})
    result = generate(image=photo(), config=config, out=tmp_path / "f.mp4")
    info = probe(result.video_path)
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (64, 64, 5, 8.0)
    assert np.array_equal(read_video(result.video_path)[0], result.frames)
    keyframe = load_image(photo(), 64, 64)
    assert np.array_equal(result.frames, fallback_frames(width=64, height=64, num_frames=5,
                                                         fps=8, seed=config.seed,
                                                         image=keyframe))
