"""A video made again from its manifest alone, and checked against the recorded one.

    result = svlab.rerun("runs/9314f767edbf666f.json", check=True)
    result.check.identical, result.check.max_difference, result.check.psnr

The manifest records every setting, the input image (where it was, the hash of its file and
of its pixels), the prompt, the engine and model (with the revision of its weights), the
svlab version and the git commit. A manifest that cannot be honoured is refused with an
`InputError` naming the difference: its image missing or changed, its model at another
revision. A run the fallback engine answered is made again by the fallback engine.
A bare prompt's storyboard is made again from the prompt when the recorded scenes are the
ones that prompt makes; a storyboard from a file is made again with `svlab story FILE`.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from svlab.core.config import setting_names
from svlab.core.errors import ConfigError, InputError, ModelUnavailableError, require_file
from svlab.core.manifest import environment, manifest_path
from svlab.models import resolve_model
from svlab.media import probe, read_video
from svlab.media.video_io import read_audio
from svlab.media.images import read_image
from svlab.run.settings import check_host_memory, load_config
from svlab.render.service import generate
from svlab.render.storyboards import storyboard_from_prompt
from svlab.core.manifest_check import read_manifest
from svlab.core.overlap import refuse_overlap


@dataclass(frozen=True)
class RerunCheck:
    """The new frames against the recorded video's (both decoded from their files)."""

    identical: bool
    max_difference: int  # largest absolute difference of a pixel value, 0-255
    psnr: float  # dB over all frames; inf when identical
    frames: int
    recorded_frames: int
    # the sound tracks, decoded: None when neither video has one; else whether their samples
    # are identical (a track on one side only differs)
    audio_identical: bool | None = None
    audio_max_difference: float | None = None


@dataclass
class RerunResult:
    video: Path | None  # None when only checked (the new video was not kept)
    manifest: dict[str, Any]
    check: RerunCheck | None = None
    notes: list[str] = field(default_factory=list)  # what differs and may matter


def rerun(manifest: str | Path, out: str | Path | None = None, *, check: bool = False,
          image: str | Path | None = None) -> RerunResult:
    """Make the video of `manifest` again; `out` (default: X.rerun.mp4 beside it; with
    `check` and no `out`, a temporary file) and `image` (default: where the manifest says)."""
    path = require_file(manifest, "manifest")
    recorded = _read(path)
    settings, notes = _settings(recorded)
    config = load_config(settings)
    check_host_memory(config)  # the bounds `generate` holds a command line to
    inputs = recorded.get("inputs") or {}
    source = _image(inputs.get("image"), image, path, notes)
    prompt = inputs.get("prompt") if source is not None else _prompt(recorded)
    notes += _environment_changes(recorded.get("environment") or {})
    recorded_name = (recorded.get("output") or {}).get("video")
    recorded_video = path.with_name(recorded_name) if recorded_name else None
    kept = Path(out) if out is not None else (None if check else path.with_suffix(".rerun.mp4"))
    if kept is not None:  # never over the manifest, the recorded video or the image
        refuse_overlap([kept, manifest_path(kept)], [path, recorded_video, source])
    if check and (recorded_video is None or not recorded_video.is_file()):
        raise InputError(f"the recorded video {recorded_video} is missing: nothing to check "
                         "against")
    with tempfile.TemporaryDirectory(prefix=".svlab-rerun.") as scratch:
        target = kept if kept is not None else Path(scratch) / "rerun.mp4"
        with _cpu_threads(recorded, notes):
            result = generate(image=source, prompt=prompt, config=config, out=target)
        compared = compare_videos(target, recorded_video) if check else None
    return RerunResult(video=kept, manifest=result.manifest, check=compared, notes=notes)


def compare_videos(new: Path, recorded: Path) -> RerunCheck:
    """Identical / largest difference / PSNR of two videos' decoded frames."""
    a, _ = read_video(new)
    b, _ = read_video(recorded)
    if a.shape[1:] != b.shape[1:]:
        return RerunCheck(False, 255, 0.0, len(a), len(b))
    n = min(len(a), len(b))
    diff = np.abs(a[:n].astype(np.int16) - b[:n].astype(np.int16))
    mse = float(np.mean(diff.astype(np.float64) ** 2)) if n else math.nan
    psnr = math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
    identical = len(a) == len(b) and not diff.any()
    same_audio, audio_difference = _compare_audio(new, recorded)
    return RerunCheck(identical and same_audio is not False, int(diff.max()) if n else 255,
                      psnr, len(a), len(b), same_audio, audio_difference)


def _compare_audio(new: Path, recorded: Path) -> tuple[bool | None, float | None]:
    """Whether the two videos' decoded sound tracks hold the same samples, and the largest
    difference of a sample; (None, None) when neither has sound."""
    has = [probe(p)["has_audio"] for p in (new, recorded)]
    if not any(has):
        return None, None
    if not all(has):
        return False, None
    (a, rate_a), (b, rate_b) = read_audio(new), read_audio(recorded)
    if a.shape != b.shape or rate_a != rate_b:
        return False, None
    difference = float(np.abs(a - b).max()) if a.size else 0.0
    return difference == 0.0, difference


# Settings added after manifests were first written, whose absence means the run had them off.
OFF_WHEN_ABSENT = ("cache", "cache_threshold")


def _read(path: Path) -> dict[str, Any]:
    """The manifest, read with bounded work and checked like any other input."""
    return read_manifest(path)


def _settings(recorded: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The run's settings, with the model that actually ran; ConfigError/InputError when that
    model is not the one recorded (another revision of its weights)."""
    missing = [n for n in setting_names() if n not in recorded and n not in OFF_WHEN_ABSENT]
    if missing:
        raise InputError(f"the manifest lacks settings {', '.join(missing)}: it was written by "
                         "another svlab version, which records less")
    settings = {n: recorded.get(n) for n in setting_names()}
    notes = []
    if recorded["engine"] == "fallback":
        settings["model"] = "fallback"  # what made the frames, whatever was asked for
    elif recorded["engine"] == "model":
        info = recorded.get("model_info") or {}
        settings["model"] = info.get("model") or settings["model"]
        _check_revision(settings["model"], info.get("revision"))
    if recorded.get("recovery"):
        notes.append("the original run recovered from "
                     + "; ".join(f"{s.get('error')} in {s.get('stage')}" for s in recorded["recovery"])
                     + ": a rerun starts from the recorded settings and may take another path")
    return settings, notes


def _check_revision(model: str, revision: str | None) -> None:
    if revision is None:
        return
    try:
        here = resolve_model(model, download=False).revision
    except (ModelUnavailableError, ConfigError) as e:
        raise InputError(f"model {model} (revision {revision}) cannot be found here: {e}") \
            from None
    if here != revision:
        raise InputError(f"model {model} is at revision {here} here; the manifest recorded "
                         f"revision {revision}")


def _image(recorded: dict[str, Any] | None, given: str | Path | None, manifest: Path,
           notes: list[str]) -> Path | None:
    """The input image, found and checked against the recorded content hash."""
    if recorded is None:
        if given is not None:
            raise InputError("the manifest's run had no input image; --image does not apply")
        return None
    if given is not None:
        path = require_file(given, "image file")
    elif recorded.get("image"):
        path = _find(Path(recorded["image"]), manifest)
    else:
        raise InputError(f"the manifest's image came from memory ({recorded.get('source')}), "
                         "not a file: give it with --image")
    rgb, described = read_image(path)
    want = recorded.get("pixels_sha256")
    if want and described["pixels_sha256"] != want:
        raise InputError(
            f"image {path} differs from the one the manifest recorded: its pixels hash to "
            f"{described['pixels_sha256'][:16]}… ({rgb.width}x{rgb.height}), the manifest "
            f"says {want[:16]}… ({recorded.get('width')}x{recorded.get('height')})")
    if recorded.get("sha256") and described.get("sha256") not in (None, recorded["sha256"]):
        notes.append(f"the file {path.name} differs byte for byte from the recorded one, "
                     "but its pixels are the same")
    return path


def _find(path: Path, manifest: Path) -> Path:
    for candidate in (path, manifest.parent / path):
        if candidate.is_file():
            return candidate
    raise InputError(f"the manifest's input image {path} is missing (looked there and beside "
                     f"the manifest); give it with --image")


def _prompt(recorded: dict[str, Any]) -> str:
    """The prompt of a bare-prompt storyboard, once the scenes it makes are the recorded ones."""
    board = recorded.get("storyboard") or {}
    title, scenes = board.get("title"), recorded.get("scenes") or []
    if not title or not scenes:
        raise InputError("the manifest has neither an input image nor a prompt's storyboard: "
                         "nothing to make again")
    rebuilt = storyboard_from_prompt(title)
    same = ([s.text for s in rebuilt.scenes] == [s.get("text") for s in scenes]
            and all(not s.get("settings") and (s.get("keyframe") or {}).get("source") != "image"
                    for s in scenes)
            and (board.get("music"), board.get("subtitles"), board.get("crossfade")) ==
            (None, rebuilt.subtitles, rebuilt.crossfade))
    if not same:
        raise InputError("this storyboard came from a file (its scenes, images, settings or "
                         "music are not what its title alone makes): make it again with "
                         "`svlab story FILE`")
    return title


@contextlib.contextmanager
def _cpu_threads(recorded: dict[str, Any], notes: list[str]) -> Iterator[None]:
    """A model run on the CPU made again with the recorded number of torch threads: its
    kernels sum in another order with another count, and the frames differ in the last bit."""
    count = (recorded.get("environment") or {}).get("torch_threads")
    if recorded["engine"] != "model" or (recorded.get("model_info") or {}).get("device") != "cpu" \
            or not isinstance(count, int) or count < 1:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if count != before:
        notes.append(f"ran with {count} torch threads, as recorded ({before} here by default)")
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _environment_changes(then: dict[str, Any]) -> list[str]:
    """Versions and the commit that differ from the recording: where a difference may come
    from."""
    now = environment()
    notes = [f"{name} {old} then, {now['packages'].get(name)} now"
             for name, old in (then.get("packages") or {}).items()
             if now["packages"].get(name) != old]
    before, after = (then.get("git") or {}).get("commit"), (now.get("git") or {}).get("commit")
    if before and after and before != after:
        notes.append(f"svlab commit {before[:10]} then, {after[:10]} now")
    return notes
