"""The display helpers the notebooks and the panel use."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from svlab.face.display import (
    config_from, demo_image, differences_table, flatten, image_from_upload, manifest_table,
    result_summary, thumbnail_png,
)
from svlab.core.errors import ConfigError, InputError


def test_config_from_keeps_the_profiles_value_for_none():
    tiny = config_from("cpu-tiny", num_frames=None, height=None, seed=3)
    assert (tiny.model, tiny.num_frames, tiny.height, tiny.seed) == ("tiny", 8, 64, 3)
    low = config_from("low-vram", num_frames=None, height=None, seed=None)
    assert (low.num_frames, low.height, low.decode_chunk_size) == (15, 512, 2)
    with pytest.raises(ConfigError, match="unknown profile"):
        config_from("tiny-cpu")


def test_manifest_table_is_folded_grouped_and_escaped():
    manifest = {"model": "<tiny>", "num_frames": 8,
                "stages": {"load": {"seconds": 0.123456, "peak_bytes": 10}},
                "recovery": [], "fallback_reason": None,
                "environment": {"python": "3.11", "packages": {"torch": "2.13.0"}}}
    assert flatten(manifest)[2] == ("stages.load.seconds", 0.123456)
    table = manifest_table(manifest)
    assert table.startswith("<details class='svlab-manifest'><summary><b>manifest</b>: "
                            "8 entries in 3 sections</summary>")
    assert "<summary>settings and outcome (4)</summary>" in table
    assert "<summary>stages (2)</summary>" in table
    assert "<summary>environment (2)</summary>" in table
    assert "<code>environment.packages.torch</code>" in table
    assert "&lt;tiny&gt;" in table and "<tiny>" not in table
    assert "<td style='text-align:left'>0.1235</td>" in table
    assert table.count("<tr><td") == 8


def test_result_summary_says_when_a_tiny_clip_is_enlarged():
    class Result:
        video_path = "outputs/clip.mp4"
        manifest = {"engine": "fallback", "fallback_reason": "no <weights>",
                    "output": {"frames": 8, "width": 64, "height": 64, "fps": 6.0,
                               "duration": 1.333}}

    line = result_summary(Result())
    assert line.startswith("<b>outputs/clip.mp4</b>: 8 frames, 64x64 at 6 fps (1.333 s)")
    assert "because no &lt;weights&gt;" in line
    assert "shown 6x larger, nearest neighbour" in line
    Result.manifest["output"].update(width=512, height=512)
    assert "nearest" not in result_summary(Result())


def test_thumbnail_enlarges_tiny_frames_pixel_for_pixel():
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[:2, :2] = 255
    thumb = np.asarray(Image.open(io.BytesIO(thumbnail_png(frame, 64))))
    assert thumb.shape == (64, 64, 3)
    assert set(np.unique(thumb)) == {0, 255}  # nearest neighbour: no blended greys
    assert thumb[:32, :32].min() == 255 and thumb[32:, 32:].max() == 0


def test_demo_image():
    image = demo_image(96, 64)
    assert image.size == (96, 64) and image.mode == "RGB"
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 50  # not a flat card
    assert image.info["filename"] == "svlab demo image"


def test_image_from_upload_reads_any_pillow_format_and_keeps_the_name():
    buffer = io.BytesIO()
    Image.new("L", (10, 6), 128).save(buffer, format="JPEG")
    image = image_from_upload({"name": "grey.jpg", "content": memoryview(buffer.getvalue())})
    assert image.mode == "RGB" and image.size == (10, 6)
    assert image.info["filename"] == "grey.jpg"
    with pytest.raises(InputError, match="'x.bin' is not an image"):
        image_from_upload({"name": "x.bin", "content": memoryview(b"\x00\x01")})


def test_differences_table_skips_times_and_says_when_nothing_differs():
    a = {"seed": 1, "created": "then", "stages": {"denoising": {"seconds": 1.0}}}
    b = {"seed": 1, "created": "now", "stages": {"denoising": {"seconds": 2.0}}}
    assert "same settings" in differences_table(a, b)
