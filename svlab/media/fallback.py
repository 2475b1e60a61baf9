"""The fallback engine: a video of the requested size, length and frame rate when no model can
run, so a request never ends without a clip.

Without a conditioning image it is the seed system's answer, a solid colour with the text on
it, plus a thin progress bar along the bottom so that it is visibly a video. With an image it
is a slow camera move over that image (Ken Burns: zoom in or out and a small pan), so the clip
still looks like what was asked for. Everything depends only on the arguments and the seed:
the same call gives the same frames, bit for bit.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from svlab.core.errors import InputError
from svlab.media.images import read_image
from svlab.media.placeholder import parse_color, placeholder_image
from svlab.media.video_io import to_uint8_frame

MAX_ZOOM = 1.15  # the most the camera closes in over a clip: gentle, as a slow push-in
ZOOM_PER_SECOND = 0.04  # so short clips move less than long ones
BAR_HEIGHT = 0.012  # progress bar, as a fraction of the frame height


def fallback_frames(
    *,
    width: int,
    height: int,
    num_frames: int,
    fps: float,
    seed: int = 0,
    text: str | None = None,
    image: Any = None,
    color: Any = None,
) -> np.ndarray:
    """uint8 frames (num_frames, height, width, 3) standing in for a generated clip.

    image: a PIL image, an H x W x 3 array or a path. When given, it is centre-cropped to the
    frame's aspect ratio and filmed with a slow zoom and pan whose direction comes from `seed`
    (`text` is then not drawn). Without it, the frames are a card of `color` (by default a muted
    colour chosen by `seed`) with `text` and a progress bar.
    """
    for name, value in (("width", width), ("height", height), ("num_frames", num_frames)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise InputError(f"fps must be a positive number, got {fps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    if image is not None:
        return _ken_burns(_load_image(image), width, height, num_frames, num_frames / fps, rng)
    color = parse_color(color) if color is not None else seed_color(seed)
    card = np.asarray(placeholder_image(text or "", width, height, color=color))
    frames = np.repeat(card[None], num_frames, axis=0)
    bar = max(1, round(height * BAR_HEIGHT))
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = 0 if luma > 140 else 255
    for i in range(num_frames):
        frames[i, height - bar:, : round(width * (i + 1) / num_frames)] = ink
    return frames


def seed_color(seed: int) -> tuple[int, int, int]:
    """A muted colour picked by the seed (any hue, dark enough for white text)."""
    hue = np.random.default_rng(seed).random()
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.45)
    return round(r * 255), round(g * 255), round(b * 255)


def _load_image(image: Any) -> np.ndarray:
    if isinstance(image, (str, Path, Image.Image)):
        return np.asarray(read_image(image)[0])
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[-1] != 3:
        shown = image.shape if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"image must be a PIL image, an H x W x 3 array or a path, got {shown}")
    return np.ascontiguousarray(to_uint8_frame(image, 0))


def _ken_burns(image: np.ndarray, width: int, height: int, num_frames: int, seconds: float,
               rng: np.random.Generator) -> np.ndarray:
    import cv2

    # Centre-crop to the frame's aspect ratio, then scale so the closest view is sampled at
    # about one source pixel per output pixel (no blur from upscaling at the end of a zoom).
    src_h, src_w = image.shape[:2]
    crop_w = min(src_w, round(src_h * width / height))
    crop_h = min(src_h, round(src_w * height / width))
    x0, y0 = (src_w - crop_w) // 2, (src_h - crop_h) // 2
    zoom = 1 + min(MAX_ZOOM - 1, ZOOM_PER_SECOND * seconds)
    base_w, base_h = round(width * zoom), round(height * zoom)
    crop = image[y0:y0 + crop_h, x0:x0 + crop_w]
    shrink = base_w < crop_w
    base = cv2.resize(crop, (base_w, base_h),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    # Wide view at one end, close view at the other, pushing in or pulling out by the seed;
    # the close view drifts toward a random direction as far as the wide view allows.
    angle = rng.uniform(0, 2 * math.pi)
    zooms = (1.0, zoom) if rng.random() < 0.5 else (zoom, 1.0)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        t = i / (num_frames - 1) if num_frames > 1 else 0.0
        t = t * t * (3 - 2 * t)  # ease in and out
        z = zooms[0] + (zooms[1] - zooms[0]) * t
        reach = (z - 1) / (zoom - 1) if zoom > 1 else 0.0  # 0 at the wide view, 1 closest
        view_w, view_h = base_w / z, base_h / z
        cx = base_w / 2 + math.cos(angle) * (base_w - view_w) / 2 * reach
        cy = base_h / 2 + math.sin(angle) * (base_h - view_h) / 2 * reach
        k = width / view_w
        matrix = np.array([[k, 0, -k * (cx - view_w / 2)], [0, k, -k * (cy - view_h / 2)]])
        cv2.warpAffine(base, matrix, (width, height), dst=frames[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
    return frames
