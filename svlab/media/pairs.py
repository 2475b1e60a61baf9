"""What a pair of neighbouring frames shows, before any flow: a repeat, a flat frame (black,
white) next to a picture, and any change of brightness the whole picture shares.

No one recipe is right for every pair (see `svlab.media.flow`): repeats are blended (so
they stay exact), a cut takes one side, a fade blends intensities, motion is warped. This
module holds the records and the tests that need no flow; the flow interpolator makes the rest
of the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

KINDS = ("motion", "duplicate", "cut", "fade")


@dataclass(frozen=True)
class Brightness:
    """frame1 ~ gain * frame0 + offset in grey levels (a fade, a flash, an exposure change)."""

    gain: float = 1.0
    offset: float = 0.0

    @property
    def changed(self) -> bool:
        return abs(self.gain - 1.0) > 0.05 or abs(self.offset) > 3.0

    def match0(self, image: np.ndarray) -> np.ndarray:
        """frame 0's grey levels as frame 1 shows them."""
        return cv2.convertScaleAbs(image, alpha=self.gain, beta=self.offset)

    def at(self, image: np.ndarray, t: float, side: int) -> np.ndarray:
        """A uint8 picture of frame `side` (0 or 1) brought to the brightness of time t."""
        if not self.changed:
            return image
        if side == 0:  # level(t) = level0 * (1 - t + t * gain) + t * offset
            return cv2.convertScaleAbs(image, alpha=1 - t + t * self.gain,
                                       beta=t * self.offset)
        scale = (1 - t + t * self.gain) / self.gain  # frame 1 back to frame 0, then forward
        return cv2.convertScaleAbs(image, alpha=scale, beta=t * self.offset - self.offset * scale)


@dataclass(frozen=True)
class PairFlow:
    """What one pair of frames needs for any number of intermediate times.

    The flows and visibility maps are at the interpolator's working size (a fraction of the
    frame's, in that size's pixels): they are smooth, and the work on them is 4 times cheaper
    there; they are brought to the frame's size only for the final warp.
    """

    kind: str  # one of KINDS
    flow01: np.ndarray | None = None  # h,w,2: where each pixel of frame 0 is in frame 1
    flow10: np.ndarray | None = None  # h,w,2: where each pixel of frame 1 is in frame 0
    seen0: np.ndarray | None = None  # h,w in [0,1]: frame 0's pixel is also seen in frame 1
    seen1: np.ndarray | None = None  # h,w in [0,1]: frame 1's pixel is also seen in frame 0
    brightness: Brightness = field(default_factory=Brightness)


def flat_pair_kind(grey0: np.ndarray, grey1: np.ndarray, flat_level: float,
                   cut_error: float, bright_level: float) -> str | None:
    """"cut" or "fade" when one frame is a flat colour (black, white), else None.

    A flat frame next to a picture is either a cut (to or from black) or a step of a fade, and
    one pair cannot tell them apart. What settles it is what a wrong guess costs: a fade's
    first step shows the picture dimmed (by 1/N over N steps), and blending it is right for a
    fade and costs little at a cut, because the picture is dim; a picture whose highlights are
    above `bright_level`, or whose mean level jumps by more than `cut_error` and is bright, would
    be a fade of two steps at most: that is a cut, and the nearer side is the better guess.
    """
    (mean0,), (std0,) = (v.ravel() for v in cv2.meanStdDev(grey0))
    (mean1,), (std1,) = (v.ravel() for v in cv2.meanStdDev(grey1))
    if min(std0, std1) >= flat_level:
        return None
    if abs(mean1 - mean0) <= cut_error:
        return "fade"
    flat, picture = (grey0, grey1) if std0 < std1 else (grey1, grey0)
    contrast = cv2.absdiff(picture, np.full_like(picture, int(round(float(flat.mean())))))
    return "cut" if _high_level(contrast) > bright_level else "fade"


def _high_level(grey: np.ndarray, fraction: float = 0.99) -> float:
    """The grey level that `fraction` of the pixels are at or below (the highlights)."""
    counts = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()
    return float(np.searchsorted(np.cumsum(counts), fraction * grey.size))


def global_brightness(grey0: np.ndarray, grey1: np.ndarray, blocks: int = 4) -> Brightness:
    """The change of brightness from grey0 to grey1 that the whole picture shares, or none.

    A line through the mean levels of blocks x blocks regions (frame 1's against frame 0's):
    a fade or a flash moves all regions along one line, while a cut or motion scatters them,
    and then (a fit that explains less than 85% of the spread) no change is claimed.
    """
    size = (blocks, blocks)
    levels0 = cv2.resize(grey0, size, interpolation=cv2.INTER_AREA).ravel().astype(np.float64)
    levels1 = cv2.resize(grey1, size, interpolation=cv2.INTER_AREA).ravel().astype(np.float64)
    unclipped = (levels0 < 235) & (levels1 < 235)  # a saturated region bends the line
    levels0, levels1 = levels0[unclipped], levels1[unclipped]
    if len(levels0) < blocks * blocks // 3 or levels0.var() < 1.0:
        return Brightness()
    spread0 = levels0 - levels0.mean()
    gain = float(spread0 @ (levels1 - levels1.mean()) / (spread0 @ spread0))
    offset = float(levels1.mean() - gain * levels0.mean())
    residual = levels1 - (gain * levels0 + offset)
    if gain <= 0 or residual.var() > 0.15 * max(levels1.var(), 1e-9):
        return Brightness()
    return Brightness(gain, offset)


def blend_pair(frame0: np.ndarray, frame1: np.ndarray, t: float) -> np.ndarray:
    """The cross-fade (1 - t) * frame0 + t * frame1, rounded to uint8."""
    return cv2.addWeighted(frame0, 1.0 - t, frame1, t, 0.0)
