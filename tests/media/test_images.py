"""Conditioning images: sizes checked from the header before decoding, content hashes for the
manifest, and fitting to the frame without distortion."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from svlab.core.errors import InputError
from svlab.media.images import fit_image, load_image, pixels_sha256, read_image


def png_header_only(path, width, height):
    """A PNG that declares `width` x `height` but carries one row of data: a decompression
    bomb's shape in a few bytes, readable only as far as its header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" + b"\0" * 3 * min(width, 16))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size, words", [
    ((30000, 30000), "too large; accepted: up to 64,000,000 pixels"),
    ((100000, 1), "too narrow"),
])
def test_huge_or_absurd_images_are_refused_from_their_header(tmp_path, size, words):
    path = png_header_only(tmp_path / "bomb.png", *size)
    with pytest.raises(InputError, match=words) as error:
        read_image(path)
    assert "cannot read" not in str(error.value)


def test_arrays_and_pil_images_are_bounded_too():
    with pytest.raises(InputError, match="too narrow"):
        read_image(np.zeros((1, 2000, 3), np.uint8))


def test_description_hashes_file_and_pixels(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    image, described = read_image(path)
    assert described["source"] == "file" and described["image"] == str(path)
    assert (described["width"], described["height"]) == (30, 20)
    assert described["pixels_sha256"] == read_image(rgb)[1]["pixels_sha256"]
    assert described["pixels_sha256"] == pixels_sha256(image)
    rgb[0, 0, 0] ^= 1  # one bit of one pixel
    assert read_image(rgb)[1]["pixels_sha256"] != described["pixels_sha256"]


def test_fit_covers_and_centre_crops():
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 50, 100))  # blue left quarter is cropped away
    out = fit_image(wide, 64, 64)
    assert out.size == (64, 64) and np.asarray(out)[:, :, 2].max() < 30
    assert load_image(np.asarray(wide), 64, 64).tobytes() == out.tobytes()


def test_the_command_line_refuses_a_bomb_in_one_line(tmp_path, capsys):
    from svlab.face.cli import main

    bomb = png_header_only(tmp_path / "bomb.png", 30000, 30000)
    code = main(["generate", "--image", str(bomb), "--profile", "cpu-tiny", "--out",
                 str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "too large" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.png"]
