"""The manifest: a JSON file beside every video (X.mp4 -> X.json) recording how it was made,
so that a result can be trusted, compared and reproduced later.

`build_manifest` is the one place a manifest is assembled (the service, storyboards and the
command line all call it), and `write_manifest` the one place it is written.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from svlab.core.files import atomic_output
from svlab.core.records import ClipRecord, StageStats

_PACKAGES = ("svlab", "torch", "diffusers", "transformers", "accelerate", "numpy",
             "imageio-ffmpeg", "opencv-python-headless", "xformers")


def manifest_path(video: str | Path) -> Path:
    """Where the manifest of a video lives: the same path with `.json`."""
    return Path(video).with_suffix(".json")


def build_manifest(
    settings: Mapping[str, Any],
    record: ClipRecord,
    *,
    inputs: Mapping[str, Any],
    output: Mapping[str, Any],
    stages: Mapping[str, StageStats] | None = None,
    sections: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every setting under its own name, then what happened (engine, model, recovery, stages),
    the inputs, the output's facts, any extra `sections` (a storyboard's scenes and captions),
    when, and on what software and machine. Returned as it will read back from the file."""
    info = record.model_info
    manifest = {
        **settings,
        "engine": record.engine,
        "fallback_reason": record.fallback_reason,
        "recovery": record.recovery,
        "model_info": info,
        "device": info.device if info else ("cpu" if record.engine == "fallback" else None),
        "resolved_dtype": info.dtype if info else None,
        "attention_backend": info.attention if info else None,
        "offload_mode": info.offload if info else None,
        "world_size": record.parallel.world_size if record.parallel else 1,
        "parallel": record.parallel,
        "stages": dict(stages or {}),
        "inputs": dict(inputs),
        "output": dict(output),
        **(sections or {}),
        "created": now_utc(),
        "environment": environment(),
    }
    return jsonable(manifest)


def output_facts(video: str | Path, *, frames: int, fps: float, width: int, height: int,
                 audio: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `output` section: the video's file name, frame count, rate, size and duration, and
    its sound track (`audio_facts`; None when the video has none)."""
    return {"video": Path(video).name, "frames": int(frames), "fps": float(fps),
            "width": int(width), "height": int(height),
            "duration": round(frames / fps, 3) if fps else None,
            "audio": dict(audio) if audio is not None else None}


def audio_facts(made, written) -> dict[str, Any] | None:
    """The sound track as written (AAC): rate, channels, duration and samples, and how many
    samples the model made (before trimming or padding it to the video's length)."""
    if written is None:
        return None
    return {"codec": "aac", "sample_rate": int(written.sample_rate),
            "channels": written.channels, "duration": round(written.duration, 6),
            "samples": int(written.samples.shape[1]),
            "model_samples": int(made.samples.shape[1])}


def environment() -> dict[str, Any]:
    """Library versions, the svlab checkout's commit and the machine, for reproducing a run."""
    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                           "packages": _versions(), "git": git_commit()}
    torch = sys.modules.get("torch")  # only when a model ran: importing it costs seconds
    if torch is not None:  # CPU kernels sum in another order with another thread count
        env["torch_threads"] = torch.get_num_threads()
    if torch is not None and torch.cuda.is_available():
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name()
    return env


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str | None]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.lru_cache(maxsize=1)
def git_commit() -> dict[str, Any] | None:
    """The commit of the git checkout svlab runs from, and whether it had local changes;
    None for an installed package (its version is in `packages`)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=5)
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                 "svlab"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def jsonable(value: Any) -> Any:
    """`value` as it will read back from a JSON file: dataclasses as dicts, paths and other
    objects as text, tuples as lists, and non-finite floats as None (a manifest is always
    valid JSON, which has no NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {utf8_text(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return utf8_text(str(value))


def utf8_text(value: str) -> str:
    """`value` as UTF-8 can hold it: a name that was not valid UTF-8 (decoded by Python with
    surrogate escapes: file names, arguments, environment variables) keeps its bytes shown as
    \\xNN; any other lone surrogate becomes U+FFFD."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


def manifest_text(data: Mapping[str, Any]) -> str:
    """The manifest as the file holds it: indented JSON, strict (no NaN), UTF-8 text."""
    return json.dumps(jsonable(data), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def write_manifest(video: str | Path, data: Mapping[str, Any]) -> Path:
    """Write the manifest of `video` atomically (a hidden file, then a rename)."""
    path = manifest_path(video)
    with atomic_output(path) as tmp:
        tmp.write_text(manifest_text(data), encoding="utf-8")
    return path
