"""A manifest read back as input (`svlab rerun`, `svlab compare`): it is a file a user hands
svlab like any other, so it is read with bounded work (`svlab.bounded`: size, depth) and every
part svlab uses is checked for its type and bounds before anything acts on it. The settings
themselves are checked later by the same `load_config` that `generate` uses.

    data = read_manifest(path)      # InputError, one line, naming what is wrong
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from svlab.core.bounded import MAX_MANIFEST_BYTES, load_structured
from svlab.core.errors import InputError
from svlab.core.text_caps import check_prompt

ENGINES = ("model", "fallback", "mixed", "interpolate")
MAX_THREADS = 1024  # torch threads a rerun may be asked for
MAX_NAME = 255
VIDEO_SUFFIXES = (".mp4",)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest at `path`, read with bounded work and checked (`check_manifest`)."""
    path = Path(path)
    data = load_structured(path, "manifest", max_bytes=MAX_MANIFEST_BYTES, kind="json")
    check_manifest(data, path)
    return data


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expect(value: Any, types: tuple, where: str, path: Path, accepted: str) -> Any:
    if isinstance(value, bool) and bool not in types:
        raise InputError(f"manifest {path}: {where} is a boolean; accepted: {accepted}")
    if not isinstance(value, types):
        raise InputError(f"manifest {path}: {where} is {_kind(value)}; accepted: {accepted}")
    return value


def _mapping(data: dict, key: str, path: Path, *, required: bool = False) -> dict:
    value = data.get(key)
    if value is None and not required:
        return {}
    return _expect(value, (dict,), key, path, "a mapping")


def _text(section: dict, key: str, where: str, path: Path) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    _expect(value, (str,), f"{where}.{key}", path, "text")
    if len(value) > 4096 or "\0" in value:
        raise InputError(f"manifest {path}: {where}.{key} is not a usable value (too long or "
                         "holds a NUL byte)")
    return value


def file_name(value: Any, where: str, path: Path) -> str:
    """A plain file name (no folder, no `..`): what a manifest's `output.video` must be."""
    _expect(value, (str,), where, path, "a file name")
    if (not value or len(value) > MAX_NAME or "\0" in value or value in (".", "..")
            or PurePosixPath(value).name != value or PureWindowsPath(value).name != value
            or Path(value).suffix.lower() not in VIDEO_SUFFIXES):
        raise InputError(f"manifest {path}: {where} {value[:80]!r} is not a plain video file "
                         "name; accepted: a name like run.mp4, beside the manifest")
    return value


def check_manifest(data: Any, path: Path) -> None:
    """InputError when a part of the manifest svlab reads has the wrong type or bounds."""
    if not isinstance(data, dict) or "engine" not in data or "inputs" not in data:
        raise InputError(f"{path} is not an svlab video manifest (no engine and inputs)")
    engine = data["engine"]
    if not isinstance(engine, str) or engine not in ENGINES:
        raise InputError(f"manifest {path}: engine {str(engine)[:40]!r} is unknown; accepted: "
                         f"{', '.join(ENGINES)}")
    inputs = _mapping(data, "inputs", path)
    image = inputs.get("image")
    if image is not None:
        _expect(image, (dict,), "inputs.image", path, "a mapping")
        for key in ("image", "source", "sha256", "pixels_sha256", "name"):
            _text(image, key, "inputs.image", path)
        for key in ("width", "height"):
            if image.get(key) is not None:
                _expect(image[key], (int,), f"inputs.image.{key}", path, "a whole number")
    check_prompt(inputs.get("prompt"), f"manifest {path}: inputs.prompt")
    output = _mapping(data, "output", path)
    if output.get("video") is not None:
        file_name(output["video"], "output.video", path)
    info = _mapping(data, "model_info", path)
    for key in ("model", "revision", "device", "dtype"):
        _text(info, key, "model_info", path)
    recovery = data.get("recovery")
    if recovery is not None:
        _expect(recovery, (list,), "recovery", path, "a list")
        for i, step in enumerate(recovery):
            _expect(step, (dict,), f"recovery[{i}]", path, "a mapping")
            for key in ("error", "stage"):
                _text(step, key, f"recovery[{i}]", path)
    env = _mapping(data, "environment", path)
    threads = env.get("torch_threads")
    if threads is not None:
        _expect(threads, (int,), "environment.torch_threads", path, "a whole number")
        if not 1 <= threads <= MAX_THREADS:
            raise InputError(f"manifest {path}: environment.torch_threads={str(threads)[:20]}; "
                             f"accepted: 1 to {MAX_THREADS}")
    packages = _mapping(env, "packages", path)
    for name in list(packages):
        _text(packages, name, "environment.packages", path)
    git = _mapping(env, "git", path)
    _text(git, "commit", "environment.git", path)
    board = _mapping(data, "storyboard", path)
    check_prompt(board.get("title"), f"manifest {path}: storyboard.title")
    scenes = data.get("scenes")
    if scenes is not None:
        _expect(scenes, (list,), "scenes", path, "a list")
        for i, scene in enumerate(scenes):
            _expect(scene, (dict,), f"scenes[{i}]", path, "a mapping")
            check_prompt(scene.get("text"), f"manifest {path}: scenes[{i}].text")
            for key in ("settings", "keyframe"):
                if scene.get(key) is not None:
                    _expect(scene[key], (dict,), f"scenes[{i}].{key}", path, "a mapping")
            _text(scene.get("keyframe") or {}, "source", f"scenes[{i}].keyframe", path)
