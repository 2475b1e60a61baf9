"""Optical-flow frame interpolation with OpenCV's DIS flow, aware of cuts, fades and occlusion.

Each pair of neighbouring frames is first classified (`svlab.media.pairs` holds the tests
that need no flow), because no single recipe is right for all:
- duplicate: the frames are (nearly) the same; the blend keeps them exact;
- cut: a new shot starts; the in-between frame belongs to one side, picked by time as ffmpeg's
  minterpolate does, and it continues the earlier side's motion when the pair before told us
  what that motion was; exactly half-way between two moving shots, the mean of both sides;
- fade: one frame is a flat colour (black, white) next to a dim picture, or the shot fades with
  nothing moving; the cross-fade of intensities is the right answer;
- motion (with or without a change of brightness): flow.

For motion, the second frame's brightness is matched to the first (a line through the mean
levels of regions) before DIS flow is estimated both ways, so that a fade or a flash does not
look like motion. The flow from the intermediate time `t` back to each neighbour is found by a
fixed-point step, both neighbours are warped there (`cv2.remap`), each is brought to the
brightness of time `t`, and they are blended with weights that say where each neighbour can see
the pixel: forward-backward consistency (Sundaram et al., 2010) marks what the other frame hid
(the logic of Super SloMo, without the network).

Large motion: the flow of the previous pair (motion goes on) initialises DIS, which then only
refines it, so a fast pan costs no more than a slow one; a shot's first pair starts from the
whole picture's shift (phase correlation) when that is large.

Speed: the flow is estimated on grey images at half the frame's size (DIS's medium preset
works at that scale anyway), both directions at once on two threads, and everything done to
flows and visibility maps stays at that size; only the final warp of the two colour frames is
at full size. The pair's flow serves every intermediate time of the pair.

A pair that flow barely explains (noise, shimmer) is blended: the per-pair safety net. Flow can
still be wrong within a pair, and then a plain cross-fade is the better guess: per pixel, where
the two warped neighbours disagree with each other more than the two unwarped neighbours do
(measured over a local window), the result leans towards the blend, with weights in proportion
to the squared disagreements.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from svlab.core.errors import ConfigError
from svlab.media.pairs import Brightness, PairFlow, blend_pair, flat_pair_kind, global_brightness

LARGE_FRAME = 640 * 480  # pixels: flow_scale's default is 0.5 up to this size, 0.4 above
_workers: ThreadPoolExecutor | None = None  # see _at_once


def _forget_workers() -> None:
    """A forked child has none of its parent's threads: it starts a pool of its own."""
    global _workers
    _workers = None


os.register_at_fork(after_in_child=_forget_workers)

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowInterpolator:
    """Bidirectional DIS flow with cut, fade and occlusion handling (see the module's doc).

    The interpolator remembers the last pair it saw: when the next pair starts with that pair's
    second frame (as `interpolate` feeds them), its flow initialises the new one and its grey
    image is reused.

    preset: DIS preset; "medium" (the default) is the one measured in docs/interpolation.md.
    smoothness: DIS variational refinement alpha (OpenCV's default is 20); smoother flow fills
        flat and striped regions better, where the patch search is ambiguous.
    cut_error: mean absolute grey-level error (0-255) of the motion-compensated second frame
        above which a pair counts as a scene cut.
    duplicate_error: mean absolute difference (0-255, over the colour channels) below which
        two frames are repeats.
    flat_level: grey-level standard deviation below which a frame is a flat colour.
    bright_level: highlight level (the 99th percentile's distance from the flat colour) above
        which a picture next to a flat frame is a cut rather than a fade's first step.
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
    flow_scale: the fraction of the frame's size (0.25 to 1) at which flow is estimated and
        kept; at 0.5 or less DIS starts one pyramid level lower (it is already halved). None
        (the default): 0.5 for frames up to 640x480 pixels, 0.4 for larger ones, whose flow
        would cost too much at half size (DIS's time grows with its pixels; docs/interpolation.md).
    """

    def __init__(
        self,
        *,
        preset: str = "medium",
        smoothness: float = 40.0,
        cut_error: float = 24.0,
        duplicate_error: float = 0.5,
        flat_level: float = 4.0,
        bright_level: float = 128.0,
        guard_window: int = 15,
        refine_steps: int = 2,
        reuse_flow: bool = True,
        shift_confidence: float = 0.1,
        reliable: float = 0.9,
        flow_scale: float | None = None,
    ) -> None:
        if flow_scale is not None and not 0.25 <= flow_scale <= 1.0:
            raise ConfigError(f"flow_scale must be between 0.25 and 1, got {flow_scale!r}")
        self.flow_scale = flow_scale
        self.scale = 0.5 if flow_scale is None else flow_scale  # of the frames seen last
        self.dis = [self._make_dis(preset, smoothness) for _ in range(2)]  # one per direction
        self.cut_error = cut_error
        self.duplicate_error = duplicate_error
        self.flat_level = flat_level
        self.bright_level = bright_level
        self.guard_window = guard_window
        self.refine_steps = refine_steps
        self.reuse_flow = reuse_flow
        self.shift_confidence = shift_confidence
        self.reliable = reliable
        self._grids: dict[tuple[int, int], np.ndarray] = {}
        # the last pair: (its second frame, that frame's small grey image, the pair)
        self._last: tuple[np.ndarray, np.ndarray, PairFlow] | None = None

    def _make_dis(self, preset: str, smoothness: float):
        dis = cv2.DISOpticalFlow.create(PRESETS[preset])
        dis.setVariationalRefinementAlpha(smoothness)
        if self.flow_scale is None or self.flow_scale <= 0.5:  # images already halved or less:
            # one pyramid level less
            dis.setFinestScale(max(0, dis.getFinestScale() - 1))
        return dis

    def grid(self, height: int, width: int) -> np.ndarray:
        """x, y pixel positions of an image of this size (cached per size)."""
        if (height, width) not in self._grids:
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            self._grids[height, width] = np.dstack([xs, ys])
        return self._grids[height, width]

    def _remap(self, image: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """`image` sampled at x + flow(x) (backward warp): bicubic for pictures, which keeps
        them sharper, bilinear for flow fields and weights."""
        pos = self.grid(*flow.shape[:2]) + flow
        mode = cv2.INTER_CUBIC if image.dtype == np.uint8 else cv2.INTER_LINEAR
        return cv2.remap(image, pos, None, mode, borderMode=cv2.BORDER_REPLICATE)

    def _small(self, frame: np.ndarray) -> np.ndarray:
        """The frame's grey levels at the working size."""
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self.scale == 1.0:
            return grey
        return cv2.resize(grey, _scaled(grey.shape, self.scale)[::-1],
                          interpolation=cv2.INTER_AREA)

    def _to_frame(self, field: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """A working-size flow (or weight map) brought to the frame's size (and its pixels)."""
        height, width = shape[:2]
        if field.shape[:2] == (height, width):
            return field
        big = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
        if field.ndim == 3:
            big = cv2.multiply(big, (width / field.shape[1], height / field.shape[0], 0, 0))
        return big

    def _seen(self, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
        """Soft forward-backward consistency of `forward`, 1 where the flow comes back."""
        back = self._remap(backward, forward)
        scale = 0.01 * (_square(forward) + _square(back)) + 0.5 * self.scale ** 2
        return cv2.exp(-_square(forward + back) / scale)

    def _flows(self, grey0: np.ndarray, grey1: np.ndarray, previous: PairFlow | None):
        """Flow both ways (on two threads) and the mean error of frame 1 compensated onto
        frame 0.

        DIS starts from a guess of the motion: the previous pair's (motion goes on: frame 0's
        pixels move on as they came, and the last pair's flow10 points back along that), or
        else the whole picture's shift (phase correlation at half the working size), so that
        a fast pan is found where DIS's own coarsest scale would not reach.
        """
        if self.reuse_flow and previous is not None and previous.kind == "motion":
            guess01, guess10 = -previous.flow10, previous.flow10.copy()
        else:
            guess01 = self._global_shift(grey0, grey1)
            guess10 = None if guess01 is None else -guess01
        flow01, flow10 = _at_once(lambda: self.dis[0].calc(grey0, grey1, guess01),
                                  lambda: self.dis[1].calc(grey1, grey0, guess10))
        error = float(cv2.absdiff(grey0, self._remap(grey1, flow01)).mean())
        return flow01, flow10, error

    def _global_shift(self, grey0: np.ndarray, grey1: np.ndarray) -> np.ndarray | None:
        """A constant flow field of the whole picture's shift from frame 0 to frame 1, or None
        when it is small (DIS finds that by itself) or uncertain."""
        fraction = 0.25 / self.scale  # phase correlation at a quarter of the frame's size
        small0, small1 = (cv2.resize(g, None, fx=fraction, fy=fraction,
                                     interpolation=cv2.INTER_AREA).astype(np.float32)
                          for g in (grey0, grey1))
        (dx, dy), response = cv2.phaseCorrelate(small0, small1)
        if response < self.shift_confidence or dx * dx + dy * dy < 4:  # under 8 frame pixels
            return None
        shift = np.empty((*grey0.shape, 2), np.float32)
        shift[..., 0], shift[..., 1] = dx / fraction, dy / fraction
        return shift

    def analyse(self, frame0: np.ndarray, frame1: np.ndarray) -> PairFlow:
        """The kind of the pair and, for motion, its flows and visibility (uint8 RGB frames)."""
        previous, grey0 = None, None
        if self.flow_scale is None:
            self.scale = 0.5 if frame0.shape[0] * frame0.shape[1] <= LARGE_FRAME else 0.4
        if self._last is not None and self._last[0] is frame0:
            grey0 = self._last[1]
            previous = self._last[2] if self.reuse_flow else None
        grey0 = self._small(frame0) if grey0 is None else grey0
        grey1 = self._small(frame1)
        pair = self._analyse(frame0, frame1, grey0, grey1, previous)
        self._last = (frame1, grey1, pair)
        return pair

    def _analyse(self, frame0, frame1, grey0, grey1, previous: PairFlow | None) -> PairFlow:
        if cv2.norm(frame0, frame1, cv2.NORM_L1) / frame0.size < self.duplicate_error:
            return PairFlow("duplicate")
        flat = flat_pair_kind(grey0, grey1, self.flat_level, self.cut_error, self.bright_level)
        if flat is not None:  # from or to a flat colour: nothing to track
            return PairFlow(flat)
        static_error = float(cv2.absdiff(grey0, grey1).mean())
        brightness, flows = global_brightness(grey0, grey1), None
        if brightness.changed:  # a fade, a flash: match the brightness before the flow
            matched = brightness.match0(grey0)
            static_matched = float(cv2.absdiff(matched, grey1).mean())
            if static_matched < self.duplicate_error:
                return PairFlow("fade", brightness=brightness)  # a still shot fading
            flows = self._flows(matched, grey1, previous)
            if not self._explains(flows[2], static_matched):  # no help: try without, keep
                plain = self._flows(grey0, grey1, previous)  # the better of the two
                if plain[2] < flows[2]:
                    flows, brightness, static_matched = plain, Brightness(), static_error
            static_error = static_matched
        flow01, flow10, flow_error = flows or self._flows(grey0, grey1, previous)
        if flow_error > self.cut_error or (flow_error >= static_error
                                           and static_error > self.cut_error):
            return PairFlow("cut")
        if flow_error >= self.reliable * static_error:  # flow explains next to nothing
            return PairFlow("fade", brightness=brightness)  # (noise): the blend is safer
        seen0, seen1 = _at_once(lambda: self._seen(flow01, flow10),
                                lambda: self._seen(flow10, flow01))
        return PairFlow("motion", flow01, flow10, seen0, seen1, brightness)

    def _explains(self, flow_error: float, static_error: float) -> bool:
        """Whether motion-compensation explains the pair: not a cut, not noise."""
        return flow_error <= self.cut_error and flow_error < self.reliable * static_error

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
        mean = cv2.boxFilter(diff, cv2.CV_32F, window)
        return cv2.multiply(mean, mean) + 1.0

    def _cut(self, frame0, frame1, t: float, previous: PairFlow | None) -> np.ndarray:
        """At a cut the frame at time t shows one side: the nearer one, which is the likelier,
        and the earlier side is carried on along its motion when the pair before showed it.

        Half-way, both sides are as likely. A still earlier side (or one whose motion is not
        known) is taken, as minterpolate does: when right, it is exact. A moving side cannot
        be exact anyway, and there the mean of the two (the carried-on earlier side and the
        later one) is the safer guess: at most half the difference off, where the wrong side
        would be all of it off (the blend's error, never worse).
        """
        if t > 0.5 + 1e-9:
            return frame1
        if previous is None or previous.kind != "motion":
            return frame0
        carried = self._remap(frame0, self._to_frame(t * previous.flow10, frame0.shape))
        return carried if t < 0.5 - 1e-9 else blend_pair(carried, frame1, 0.5)

    def between(
        self, frame0: np.ndarray, frame1: np.ndarray, times: Sequence[float],
        pair: PairFlow | None = None,
    ) -> list[np.ndarray]:
        """uint8 frames at each fraction `t` in (0, 1) between two uint8 RGB frames."""
        previous = self._last[2] if self._last is not None and self._last[0] is frame0 else None
        pair = pair or self.analyse(frame0, frame1)
        if pair.kind == "cut":
            return [self._cut(frame0, frame1, t, previous) for t in times]
        if pair.kind != "motion":
            return [blend_pair(frame0, frame1, t) for t in times]
        return [self._warp(frame0, frame1, t, pair) for t in times]

    def _warp(self, frame0: np.ndarray, frame1: np.ndarray, t: float, pair: PairFlow):
        """Both neighbours warped to time t, at its brightness, blended by visibility: frame 0
        is trusted at x where frame 1's source pixel is also visible in frame 0, and the other
        way round. Each side is worked out on a thread of its own."""
        (warp0, trust1), (warp1, trust0) = _at_once(
            lambda: self._side(frame0, pair.flow01, pair.seen0, t, 0, pair.brightness),
            lambda: self._side(frame1, pair.flow10, pair.seen1, t, 1, pair.brightness))
        frame = cv2.blendLinear(warp0, warp1, cv2.multiply(trust0, 1.0 - t),
                                cv2.multiply(trust1, t))
        if self.guard_window:
            unwarped, warped = _at_once(
                lambda: self._disagreement(pair.brightness.at(frame0, t, 0),
                                           pair.brightness.at(frame1, t, 1)),
                lambda: self._disagreement(warp0, warp1))
            frame = cv2.blendLinear(frame, blend_pair(frame0, frame1, t), unwarped, warped)
        return frame

    def _side(self, frame: np.ndarray, flow: np.ndarray, seen: np.ndarray, t: float, side: int,
              brightness: Brightness) -> tuple[np.ndarray, np.ndarray]:
        """Frame `side` warped to time t at that time's brightness, and the trust this gives
        the other frame at each pixel (this frame's source pixel is visible in the other)."""
        to = self._flow_from(flow, t if side == 0 else 1.0 - t)
        trust = self._to_frame(self._remap(seen, to) + 0.01, frame.shape)
        return brightness.at(self._remap(frame, self._to_frame(to, frame.shape)), t, side), trust


def _at_once(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """Both results, `second` computed meanwhile on a worker thread (OpenCV and NumPy release
    the GIL, so the two use two cores); an error in either is raised here. The workers are
    kept (starting a thread per call costs milliseconds on a busy machine)."""
    global _workers
    if _workers is None:
        _workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="svlab-flow")
    later = _workers.submit(second)
    try:
        value = first()
    finally:
        other = later.result()
    return value, other


def _scaled(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    """(height, width) of an image of `shape` at `scale`, at least one pixel."""
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _square(flow: np.ndarray) -> np.ndarray:
    """Squared length of each flow vector."""
    return flow[..., 0] ** 2 + flow[..., 1] ** 2
