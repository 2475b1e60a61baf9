"""Video metrics that need no downloaded weights, computed from the frames alone, so that the
runs of a sweep can be compared by numbers and not only by eye.

The definitions follow the field's benchmark suites, adapted to what runs here on a CPU:

- motion (VBench's dynamic degree, without RAFT): the mean optical-flow magnitude between
  consecutive frames (OpenCV's DIS flow), in pixels per frame and as a share of the frame's
  diagonal, so clips of different sizes compare;
- motion smoothness (VBench uses a learned interpolator): how well each middle frame is
  predicted from its two neighbours by svlab's own `flow` interpolation, as one PSNR over all
  middle frames (infinite when every prediction is exact);
- temporal flicker: the mean absolute difference (0-255) between consecutive frames after
  motion compensation (the next frame warped back along the flow), so that motion is not
  counted as flicker; pixels whose flow leaves the frame are left out;
- first-frame fidelity to the conditioning image: PSNR and SSIM (scikit-image);
- sharpness: the variance of the Laplacian of the grey levels, averaged over frames;
- broken frames: NaN frames (float frames with a non-finite value) and black frames (nothing
  brighter than the video black level).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from svlab.core.errors import InputError
from svlab.media.flow import FlowInterpolator

BLACK_LEVEL = 16  # uint8: nothing brighter than video black (limited-range 16) is a black frame


@dataclass(frozen=True)
class VideoMetrics:
    """The metrics of one clip (NaN where a metric does not apply: fidelity without an input
    image, smoothness with fewer than three frames)."""

    frames: int
    motion_px: float  # mean flow magnitude between consecutive frames, pixels per frame
    motion_rel: float  # motion_px over the frame diagonal
    smoothness_psnr: float  # dB; inf when every middle frame is predicted exactly
    flicker: float  # mean absolute difference after motion compensation, 0-255
    fidelity_psnr: float  # dB, first frame against the conditioning image
    fidelity_ssim: float  # first frame against the conditioning image, 1 is identical
    sharpness: float  # variance of the Laplacian, mean over frames
    nan_frames: int
    black_frames: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def video_metrics(frames: np.ndarray, image: np.ndarray | None = None) -> VideoMetrics:
    """Every metric of a clip: `frames` (T, H, W, 3), uint8 or float in [0, 1]; `image` the
    conditioning image at the frames' size (uint8 H x W x 3), for first-frame fidelity."""
    nan, black = broken_frames(frames)
    clean = _as_uint8(frames)
    flows = _flows(clean)
    motion_px = _mean_magnitude(flows)
    psnr, ssim = fidelity(clean[0], image) if image is not None else (math.nan, math.nan)
    return VideoMetrics(
        frames=len(clean),
        motion_px=motion_px,
        motion_rel=motion_px / math.hypot(*clean.shape[1:3]),
        smoothness_psnr=motion_smoothness(clean),
        flicker=_flicker(clean, flows),
        fidelity_psnr=psnr,
        fidelity_ssim=ssim,
        sharpness=sharpness(clean),
        nan_frames=nan,
        black_frames=black,
    )


def motion(frames: np.ndarray) -> tuple[float, float]:
    """(pixels per frame, share of the diagonal): the mean DIS flow magnitude between
    consecutive frames."""
    clean = _as_uint8(frames)
    px = _mean_magnitude(_flows(clean))
    return px, px / math.hypot(*clean.shape[1:3])


def motion_smoothness(frames: np.ndarray) -> float:
    """PSNR (dB) of every middle frame against its prediction from its two neighbours by
    svlab's flow interpolation, over all middle frames at once; NaN with fewer than 3 frames."""
    clean = _as_uint8(frames)
    if len(clean) < 3:
        return math.nan
    interpolator = FlowInterpolator()
    errors = [np.mean((interpolator.between(a, c, [0.5])[0].astype(np.float64) - b) ** 2)
              for a, b, c in zip(clean[:-2], clean[1:-1], clean[2:])]
    return _psnr_of_mse(float(np.mean(errors)))


def temporal_flicker(frames: np.ndarray) -> float:
    """Mean absolute difference (0-255) between consecutive frames after motion compensation."""
    clean = _as_uint8(frames)
    return _flicker(clean, _flows(clean))


def fidelity(frame: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of a frame against the conditioning image of the same size."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    frame, image = _as_uint8(frame[None])[0], np.asarray(image)
    if frame.shape != image.shape:
        raise InputError(f"fidelity needs the image at the frame's size: frame "
                         f"{frame.shape[1]}x{frame.shape[0]}, image "
                         f"{image.shape[1]}x{image.shape[0]} (width x height)")
    if np.array_equal(frame, image):
        return math.inf, 1.0
    side = min(frame.shape[:2])
    window = min(7, side if side % 2 else side - 1)  # SSIM's window: odd, inside the frame
    psnr = peak_signal_noise_ratio(image, frame, data_range=255)
    ssim = structural_similarity(image, frame, channel_axis=-1, data_range=255, win_size=window)
    return float(psnr), float(ssim)


def sharpness(frames: np.ndarray) -> float:
    """Variance of the Laplacian of the grey levels, averaged over frames (higher is sharper)."""
    import cv2

    clean = _as_uint8(frames)
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
                          for f in clean]))


def broken_frames(frames: np.ndarray) -> tuple[int, int]:
    """(NaN frames, black frames). Only float frames can hold NaN; a frame is black when no
    pixel is brighter than the video black level (NaN pixels left out)."""
    frames = np.asarray(frames)
    _check_frames(frames)
    if np.issubdtype(frames.dtype, np.floating):
        finite = np.isfinite(frames)
        nan = int((~finite).reshape(len(frames), -1).any(axis=1).sum())
        levels = np.where(finite, frames, 0.0) * 255.0
    else:
        nan, levels = 0, frames
    black = int((levels.reshape(len(frames), -1).max(axis=1) <= BLACK_LEVEL).sum())
    return nan, black


# -- shared pieces ---------------------------------------------------------------------------


def _check_frames(frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise InputError(f"frames must have shape (T, H, W, 3), got {frames.shape}")


def _as_uint8(frames: np.ndarray) -> np.ndarray:
    """uint8 frames; float frames in [0, 1] rounded, non-finite values as 0."""
    frames = np.asarray(frames)
    _check_frames(frames)
    if frames.dtype == np.uint8:
        return frames
    if not np.issubdtype(frames.dtype, np.floating):
        raise InputError(f"frames must be uint8 or float in [0, 1], got {frames.dtype}")
    clean = np.nan_to_num(frames, nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(clean, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _grey(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _flows(frames: np.ndarray) -> list[np.ndarray]:
    """DIS flow from each frame to the next: where each pixel of a frame is in the next."""
    import cv2

    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    greys = [_grey(f) for f in frames]
    return [dis.calc(a, b, None) for a, b in zip(greys[:-1], greys[1:])]


def _mean_magnitude(flows: list[np.ndarray]) -> float:
    """Mean flow vector length over all pixels and pairs; 0 for a single frame."""
    if not flows:
        return 0.0
    return float(np.mean([np.hypot(f[..., 0], f[..., 1]).mean() for f in flows]))


def _flicker(frames: np.ndarray, flows: list[np.ndarray]) -> float:
    """Mean absolute RGB difference of each frame against the next one warped back along the
    flow, over the pixels whose flow stays inside the frame."""
    import cv2

    if not flows:
        return 0.0
    height, width = frames.shape[1:3]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    total, count = 0.0, 0
    for frame0, frame1, flow in zip(frames[:-1], frames[1:], flows):
        map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
        warped = cv2.remap(frame1, map_x, map_y, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        diff = np.abs(frame0.astype(np.float32) - warped.astype(np.float32))[inside]
        total += float(diff.sum())
        count += diff.size
    return total / count if count else 0.0


def _psnr_of_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def psnr(frames: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of uint8 `frames` against `reference` of the same shape, over all frames
    (infinite when identical): the quality cost of a shortcut against the full computation."""
    if frames.shape != reference.shape:
        raise InputError(f"frames of shape {frames.shape} cannot be compared with "
                         f"{reference.shape}")
    mse = float(np.mean((frames.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return _psnr_of_mse(mse)
