"""Optical-flow frame interpolation with OpenCV's DIS flow, aware of cuts, fades and occlusion.

Each pair of neighbouring frames is first classified, because no single recipe is right for all:
- duplicate: the frames are (nearly) the same; the blend keeps them exact;
- cut: a new shot starts; the in-between frame belongs to one side, picked by time as ffmpeg's
  minterpolate does (the earlier side up to half-way), and it continues the earlier side's
  motion when the pair before told us what that motion was;
- fade: one frame is a flat colour (black, white), or the shot fades with nothing moving; the
  cross-fade of intensities is the right answer;
- motion (with or without a change of brightness): flow.

For motion, the second frame's brightness is matched to the first (a gain and an offset from
the frames' grey-level moments) before DIS flow is estimated both ways, so that a fade or a
flash does not look like motion. The flow from the intermediate time `t` back to each neighbour
is found by a fixed-point step, both neighbours are warped there (`cv2.remap`), each is brought
to the brightness of time `t`, and they are blended with weights that say where each neighbour
can see the pixel: forward-backward consistency (Sundaram et al., 2010) marks what the other
frame hid (the logic of Super SloMo, without the network).

Large motion: the flow of the previous pair (motion goes on) initialises DIS, which then only
refines it, so a fast pan costs no more than a slow one; a shot's first pair starts from the
whole picture's shift (phase correlation) when that is large.

A pair that flow barely explains (noise, shimmer) is blended: the per-pair safety net.

Flow can still be wrong, and then a plain cross-fade is the better guess: per pixel, where the
two warped neighbours disagree with each other more than the two unwarped neighbours do
(measured over a local window), the result leans towards the blend, with weights in
proportion to the squared disagreements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
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
    """What one pair of frames needs for any number of intermediate times."""

    kind: str  # one of KINDS
    flow01: np.ndarray | None = None  # H,W,2: where each pixel of frame 0 is in frame 1
    flow10: np.ndarray | None = None  # H,W,2: where each pixel of frame 1 is in frame 0
    seen0: np.ndarray | None = None  # H,W in [0,1]: frame 0's pixel is also seen in frame 1
    seen1: np.ndarray | None = None  # H,W in [0,1]: frame 1's pixel is also seen in frame 0
    brightness: Brightness = field(default_factory=Brightness)


class FlowInterpolator:
    """Bidirectional DIS flow with cut, fade and occlusion handling (see the module's doc).

    The interpolator remembers the last pair it saw: when the next pair starts with that pair's
    second frame (as `interpolate` feeds them), its flow initialises the new one.

    preset: DIS preset; "medium" (the default) costs about 0.1 s per 768x576 frame on two cores.
    smoothness: DIS variational refinement alpha (OpenCV's default is 20); smoother flow fills
        flat and striped regions better, where the patch search is ambiguous.
    cut_error: mean absolute grey-level error (0-255) of the motion-compensated second frame
        above which a pair counts as a scene cut.
    duplicate_error: mean absolute grey-level difference below which two frames are repeats.
    flat_level: grey-level standard deviation below which a frame is a flat colour.
    guard_window: side of the window (pixels) over which warped and unwarped neighbours are
        compared to decide, per pixel, between the flow result and the blend; 0 turns it off.
    refine_steps: fixed-point steps that move the flow from the neighbour's grid to the
        intermediate frame's grid (0 uses the flow where it stands).
    reuse_flow: initialise each pair's flow from the previous pair's.
    reliable: the per-pair safety net: a pair whose motion-compensated error is above this
        fraction of the uncompensated error (flow explains next to nothing: noise, shimmer)
        is blended rather than warped.
    shift_confidence: phase-correlation response above which the whole picture's shift is
        DIS's first guess (when there is no previous pair's flow to start from).
    """

    def __init__(
        self,
        *,
        preset: str = "medium",
        smoothness: float = 40.0,
        cut_error: float = 24.0,
        duplicate_error: float = 0.5,
        flat_level: float = 4.0,
        guard_window: int = 15,
        refine_steps: int = 2,
        reuse_flow: bool = True,
        shift_confidence: float = 0.1,
        reliable: float = 0.9,
    ) -> None:
        self.dis = cv2.DISOpticalFlow.create(PRESETS[preset])
        self.dis.setVariationalRefinementAlpha(smoothness)
        self.cut_error = cut_error
        self.duplicate_error = duplicate_error
        self.flat_level = flat_level
        self.guard_window = guard_window
        self.refine_steps = refine_steps
        self.reuse_flow = reuse_flow
        self.shift_confidence = shift_confidence
        self.reliable = reliable
        self._grid: np.ndarray | None = None
        self._last: tuple[np.ndarray, PairFlow] | None = None  # (second frame, its pair)

    def grid(self, height: int, width: int) -> np.ndarray:
        if self._grid is None or self._grid.shape[:2] != (height, width):
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            self._grid = np.dstack([xs, ys])
        return self._grid

    def _remap(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """`image` sampled at x + flow(x) (backward warp): bicubic for pictures, which keeps
        them sharper, bilinear for flow fields and weights."""
        pos = self.grid(*flow.shape[:2]) + flow
        mode = cv2.INTER_CUBIC if image.dtype == np.uint8 else cv2.INTER_LINEAR
        return cv2.remap(image, pos, None, mode, borderMode=cv2.BORDER_REPLICATE)

    def _seen(self, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
        """Soft forward-backward consistency of `forward`, 1 where the flow comes back."""
        back = self._remap(backward, forward)
        scale = 0.01 * (_square(forward) + _square(back)) + 0.5
        return cv2.exp(-_square(forward + back) / scale)

    def _dis(self, grey0: np.ndarray, grey1: np.ndarray, guess: np.ndarray | None) -> np.ndarray:
        # DIS starts from a flow passed in of the image's size (float32, two channels)
        return self.dis.calc(grey0, grey1, None if guess is None else guess.copy())

    def _flows(self, grey0: np.ndarray, grey1: np.ndarray, previous: PairFlow | None):
        """Flow both ways and the mean error of frame 1 compensated onto frame 0.

        DIS starts from a guess of the motion: the previous pair's (motion goes on: frame 0's
        pixels move on as they came, and the last pair's flow10 points back along that), or
        else the whole picture's shift (phase correlation at a quarter of the size), so that
        a fast pan is found where DIS's own coarsest scale would not reach.
        """
        if self.reuse_flow and previous is not None and previous.kind == "motion":
            guess01, guess10 = -previous.flow10, previous.flow10
        else:
            guess01 = self._global_shift(grey0, grey1)
            guess10 = None if guess01 is None else -guess01
        flow01 = self._dis(grey0, grey1, guess01)
        flow10 = self._dis(grey1, grey0, guess10)
        error = float(cv2.absdiff(grey0, self._remap(grey1, flow01)).mean())
        return flow01, flow10, error

    def _global_shift(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray | None:
        """A constant flow field of the whole picture's shift from frame 0 to frame 1, or None
        when it is small (DIS finds that by itself) or uncertain."""
        small0, small1 = (cv2.resize(g, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
                          .astype(np.float32) for g in (grey0, grey1))
        (dx, dy), response = cv2.phaseCorrelate(small0, small1)
        if response < self.shift_confidence or dx * dx + dy * dy < 4:  # under 8 pixels
            return None
        shift = np.empty((*grey0.shape, 2), np.float32)
        shift[..., 0], shift[..., 1] = 4 * dx, 4 * dy
        return shift

    def analyse(self, frame0: np.ndarray, frame1: np.ndarray) -> PairFlow:
        """The kind of the pair and, for motion, its flows and visibility (uint8 RGB frames)."""
        previous = None
        if self.reuse_flow and self._last is not None and self._last[0] is frame0:
            previous = self._last[1]
        pair = self._analyse(frame0, frame1, previous)
        self._last = (frame1, pair)
        return pair

    def _analyse(self, frame0, frame1, previous: PairFlow | None) -> PairFlow:
        grey0 = cv2.cvtColor(frame0, cv2.COLOR_RGB2GRAY)
        grey1 = cv2.cvtColor(frame1, cv2.COLOR_RGB2GRAY)
        if float(cv2.absdiff(grey0, grey1).mean()) < self.duplicate_error:
            return PairFlow("duplicate")
        (mean0,), (std0,) = (v.ravel() for v in cv2.meanStdDev(grey0))
        (mean1,), (std1,) = (v.ravel() for v in cv2.meanStdDev(grey1))
        if min(std0, std1) < self.flat_level:  # from or to a flat colour: nothing to track
            return PairFlow("cut" if abs(mean1 - mean0) > self.cut_error else "fade")
        flow01, flow10, flow_error = self._flows(grey0, grey1, previous)
        static_error = float(cv2.absdiff(grey0, grey1).mean())
        brightness = global_brightness(grey0, grey1)
        if brightness.changed:  # a fade, a flash: match the brightness and look again
            matched = brightness.match0(grey0)
            static_matched = float(cv2.absdiff(matched, grey1).mean())
            if static_matched < self.duplicate_error:
                return PairFlow("fade", brightness=brightness)  # a still shot fading
            better = self._flows(matched, grey1, previous)
            if better[2] < flow_error:
                (flow01, flow10, flow_error), static_error = better, static_matched
            else:
                brightness = Brightness()
        if flow_error > self.cut_error or (flow_error >= static_error
                                           and static_error > self.cut_error):
            return PairFlow("cut")
        if flow_error >= self.reliable * static_error:  # flow explains next to nothing
            return PairFlow("fade", brightness=brightness)  # (noise): the blend is safer
        return PairFlow("motion", flow01, flow10, self._seen(flow01, flow10),
                        self._seen(flow10, flow01), brightness)

    def _flow_from(self, flow: np.ndarray, t: float) -> np.ndarray:
        """Flow from the intermediate grid at fraction `t` of the way back to the source.

        Pixel x at time t came from p = x + f_t(x) with x = p + t * flow(p); solving for
        f_t by fixed-point iteration puts motion boundaries where they are at time t.
        """
        f_t = -t * flow
        for _ in range(self.refine_steps):
            f_t = -t * self._remap(flow, f_t)
        return f_t

    def _disagreement(self, image0: np.ndarray, image1: np.ndarray) -> np.ndarray:
        """Squared local mean of the grey-level difference of two RGB images, plus one."""
        diff = cv2.cvtColor(cv2.absdiff(image0, image1), cv2.COLOR_RGB2GRAY)
        window = (self.guard_window, self.guard_window)
        return cv2.boxFilter(diff.astype(np.float32), -1, window) ** 2 + 1.0

    def _cut(self, frame0, frame1, t: float, previous: PairFlow | None) -> np.ndarray:
        """At a cut the frame at time t shows the nearer side (the earlier one up to half-way),
        carried on along the earlier side's motion when the pair before showed it."""
        if t > 0.5:
            return frame1
        if previous is None or previous.kind != "motion":
            return frame0
        return self._remap(frame0, t * previous.flow10)

    def between(
        self, frame0: np.ndarray, frame1: np.ndarray, times: Sequence[float],
        pair: PairFlow | None = None,
    ) -> list[np.ndarray]:
        """uint8 frames at each fraction `t` in (0, 1) between two uint8 RGB frames."""
        previous = self._last[1] if self._last is not None and self._last[0] is frame0 else None
        pair = pair or self.analyse(frame0, frame1)
        if pair.kind == "cut":
            return [self._cut(frame0, frame1, t, previous) for t in times]
        if pair.kind != "motion":
            return [blend_pair(frame0, frame1, t) for t in times]
        return [self._warp(frame0, frame1, t, pair) for t in times]

    def _warp(self, frame0: np.ndarray, frame1: np.ndarray, t: float, pair: PairFlow):
        """Both neighbours warped to time t, at its brightness, blended by visibility."""
        to0 = self._flow_from(pair.flow01, t)
        to1 = self._flow_from(pair.flow10, 1.0 - t)
        warp0 = pair.brightness.at(self._remap(frame0, to0), t, 0)
        warp1 = pair.brightness.at(self._remap(frame1, to1), t, 1)
        # Frame 0 is trusted at x where frame 1's source pixel is also visible in frame 0.
        w0 = (1.0 - t) * (self._remap(pair.seen1, to1) + 0.01)
        w1 = t * (self._remap(pair.seen0, to0) + 0.01)
        frame = cv2.blendLinear(warp0, warp1, w0, w1)
        if self.guard_window:
            unwarped = self._disagreement(pair.brightness.at(frame0, t, 0),
                                          pair.brightness.at(frame1, t, 1))
            warped = self._disagreement(warp0, warp1)
            frame = cv2.blendLinear(frame, blend_pair(frame0, frame1, t), unwarped, warped)
        return frame


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


def _square(flow: np.ndarray) -> np.ndarray:
    """Squared length of each flow vector."""
    return flow[..., 0] ** 2 + flow[..., 1] ** 2


def blend_pair(frame0: np.ndarray, frame1: np.ndarray, t: float) -> np.ndarray:
    """The cross-fade (1 - t) * frame0 + t * frame1, rounded to uint8."""
    return cv2.addWeighted(frame0, 1.0 - t, frame1, t, 0.0)
