"""EXIF orientation is applied wherever an image enters, and the upright size recorded."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import svlab
from svlab.media.images import read_image


def _sideways(path, orientation=6):
    """A 96x64 picture stored sideways: red on the left, blue on the right, with the tag that
    tells a viewer to rotate it (6: 90 degrees clockwise), as a phone writes a portrait."""
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, :48] = (220, 20, 20)
    rgb[:, 48:] = (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, exif=exif)
    return path


def test_a_sideways_photo_is_read_upright(tmp_path):
    rgb, described = read_image(_sideways(tmp_path / "p.png"))
    assert rgb.size == (64, 96) and (described["width"], described["height"]) == (64, 96)
    assert described["exif_orientation"] == 6
    top, bottom = np.asarray(rgb)[2, 32], np.asarray(rgb)[-3, 32]
    assert top[0] > 200 and bottom[2] > 200  # rotated clockwise: the left side is on top
    pil, from_pil = read_image(Image.open(tmp_path / "p.png"))
    assert pil.size == (64, 96) and from_pil["pixels_sha256"] == described["pixels_sha256"]


def test_generate_records_the_upright_size(tmp_path):
    out = tmp_path / "v.mp4"
    svlab.generate(image=str(_sideways(tmp_path / "p.png")), out=out, model="fallback",
                   config="cpu-tiny", num_frames=2)
    image = json.loads(out.with_suffix(".json").read_text())["inputs"]["image"]
    assert (image["width"], image["height"], image["exif_orientation"]) == (64, 96, 6)


def test_an_upright_photo_records_no_orientation(tmp_path):
    _, described = read_image(_sideways(tmp_path / "p.png", orientation=1))
    assert "exif_orientation" not in described and described["width"] == 96
