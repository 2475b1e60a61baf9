"""Conditioning images: read from a file, a PIL image or an array, checked for size before a
pixel is decoded, described for the manifest (so a run can be reproduced), and fitted to the
frame size without distortion."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from svlab.core.errors import InputError, require_file

MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000: a 192 MB RGB image once decoded
MAX_ASPECT_RATIO = 16.0  # longer side over shorter: a 100000 x 1 "image" is not a picture


def check_image_size(width: int, height: int, what: str = "image") -> None:
    """InputError when an image of `width` x `height` is too large or too thin to be a
    conditioning image."""
    if width < 1 or height < 1:
        raise InputError(f"{what} is empty ({width}x{height})")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"{what} of {width}x{height} is too large; accepted: up to "
                         f"{MAX_IMAGE_PIXELS:,} pixels (e.g. 8000x8000)")
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise InputError(f"{what} of {width}x{height} is too narrow; accepted: a longer side "
                         f"at most {MAX_ASPECT_RATIO:g} times the shorter")


def read_image(image: Any, *, name: str | None = None) -> tuple[Image.Image, dict[str, Any]]:
    """The image as RGB at its own size, and its description for the manifest: where it came
    from, its size, and content hashes (`sha256` of a file's bytes; `pixels_sha256` of the RGB
    pixels, whatever the source). `name` labels an in-memory image (an upload's file name)."""
    if isinstance(image, (str, Path)):
        rgb, file_hash = _read_file(Path(image))
        source = {"image": str(image), "source": "file", "sha256": file_hash}
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise InputError(f"an image array must be uint8 (H, W, 3 or 4), got "
                             f"{image.dtype} {image.shape}")
        check_image_size(image.shape[1], image.shape[0], "image array")
        rgb = Image.fromarray(image).convert("RGB")
        source = {"image": None, "source": "array"}
    elif isinstance(image, Image.Image):
        check_image_size(*image.size)
        name = name or image.info.get("filename")  # an upload's name, where the panel keeps it
        orientation = exif_orientation(image)
        rgb = upright(image).convert("RGB")
        rgb.info["exif_orientation"] = orientation
        source = {"image": None, "source": "PIL image"}
    else:
        raise InputError(f"image must be a path, a PIL image or a uint8 array, "
                         f"got {type(image).__name__}")
    described = {**source, "name": name, "width": rgb.width, "height": rgb.height,
                 "pixels_sha256": pixels_sha256(rgb)}
    if rgb.info.get("exif_orientation", 1) != 1:  # width and height are the upright ones
        described["exif_orientation"] = rgb.info["exif_orientation"]
    return rgb, described


def _read_file(path: Path) -> tuple[Image.Image, str]:
    require_file(path, "image file")
    accepted = "accepted: any image format Pillow reads (PNG, JPEG, WebP, ...)"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read image {path}: {e.strerror or e}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:  # reads the header only
                check_image_size(*opened.size, f"image {path.name}")
                orientation = exif_orientation(opened)
                rgb = upright(opened).convert("RGB")
    except InputError:  # our own size check (an InputError is a ValueError too)
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses the largest images while reading their header, before our check
        raise InputError(f"image {path.name} is too large; accepted: up to "
                         f"{MAX_IMAGE_PIXELS:,} pixels (e.g. 8000x8000)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"cannot read image {path}: {e}; {accepted}") from None
    rgb.info["exif_orientation"] = orientation
    return rgb, hashlib.sha256(data).hexdigest()


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1: upright, as stored; 2-8: mirrored and/or rotated)."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block is no orientation, not an unreadable image
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright(image: Image.Image) -> Image.Image:
    """The image as it is meant to be seen: its EXIF orientation applied (Pillow's
    `ImageOps.exif_transpose`; a phone's portrait photo is stored sideways with a tag)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a damaged EXIF block: the pixels as stored
        return image


def pixels_sha256(image: Image.Image) -> str:
    """A hash of an RGB image's size and pixels: the same picture gives the same hash whether
    it came from a PNG, an array or an upload."""
    digest = hashlib.sha256(f"{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """The image at exactly (width, height): scaled to cover, then centre-cropped, so that it
    is never distorted."""
    scale = max(width / image.width, height / image.height)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return image.crop((left, top, left + width, top + height))


def load_image(image: Any, width: int, height: int) -> Image.Image:
    """The conditioning image (path, PIL image or uint8 array) as RGB of exactly
    (width, height); see `fit_image`."""
    return fit_image(read_image(image)[0], width, height)
