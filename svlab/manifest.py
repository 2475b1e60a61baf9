"""The manifest: a JSON file beside every video (X.mp4 -> X.json) recording how it was made,
so that a result can be trusted, compared and reproduced later."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("svlab", "torch", "diffusers", "transformers", "accelerate", "numpy",
             "imageio-ffmpeg", "opencv-python-headless", "xformers")


def manifest_path(video: str | Path) -> Path:
    """Where the manifest of a video lives: the same path with `.json`."""
    return Path(video).with_suffix(".json")


def environment() -> dict[str, Any]:
    """Library versions and the machine, for reproducing a run."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                           "packages": versions}
    torch = sys.modules.get("torch")  # only when a model ran: importing it costs seconds
    if torch is not None and torch.cuda.is_available():
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name()
    return env


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def to_json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """The dict exactly as it will read back from the JSON file."""
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


def write_manifest(video: str | Path, data: dict[str, Any]) -> Path:
    """Write the manifest of `video` atomically (temporary file, then rename)."""
    path = manifest_path(video)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".json.tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a manifest is for everyone
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
