"""Storyboards: from a prompt or a storyboard file to one finished short video.

A storyboard is a list of scenes, each a caption text with an optional keyframe image, an
optional duration and optional per-scene settings, plus film-wide options (captions, music,
crossfade). Rendering one:

    scene text ──► keyframe: the scene's image | text-to-image model | placeholder card
               ──► clip (`service.generate_clip`: the model, or the fallback engine)
               ──► interpolated to the output fps ──► fitted to the scene's duration
    clips ──► concatenated (optional crossfade) ──► captions burned in ──► music ──► video
          ──► X.vtt / X.srt sidecars and the X.json manifest beside the video

`svlab story BOARD.yaml` and `svlab generate --prompt ...` (through `service.generate`) both
end in `render_storyboard`, so a prompt and a storyboard take the same road.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .config import VideoConfig, load_config, read_config_file, setting_names
from .errors import ConfigError, InputError, ModelUnavailableError, did_you_mean

log = logging.getLogger(__name__)

SUBTITLE_MODES = ("off", "on", "burn")  # on: WebVTT + SRT sidecars; burn: also drawn in
BOARD_KEYS = ("title", "scenes", "subtitles", "music", "volume", "fade", "crossfade",
              "settings")
SCENE_KEYS = ("text", "image", "duration", "settings")
# What a scene may change. Size, clip fps and encoding are the film's: every clip must match
# to be joined, so those belong in the storyboard's top-level `settings`.
SCENE_SETTINGS = ("seed", "num_inference_steps", "num_frames", "motion_bucket_id",
                  "noise_aug_strength", "min_guidance_scale", "max_guidance_scale",
                  "decode_chunk_size", "interpolation")
MAX_SCENE_SECONDS = 600.0
MAX_SCENES = 100
TEXT2IMAGE_ENV = "SVLAB_TEXT2IMAGE"  # a local diffusers text-to-image folder, e.g. SD-Turbo
# Placeholder card colours, one per scene in turn, so scene changes are visible.
CARD_COLORS = ((40, 44, 52), (28, 58, 48), (62, 40, 60), (30, 48, 74), (70, 52, 30))

SENTENCE_ENDS = "。！？!?；;…."
CLAUSE_ENDS = "，、,：:"


@dataclass(frozen=True)
class Scene:
    """One scene: its caption `text`, an optional keyframe `image`, an optional `duration`
    in seconds (None: as long as the generated clip) and setting overrides."""

    text: str
    image: Path | None = None
    duration: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Storyboard:
    """Scenes and the film-wide options; `settings` are defaults under the caller's own."""

    title: str
    scenes: tuple[Scene, ...]
    subtitles: str = "on"
    music: Path | None = None
    volume: float = 1.0
    fade: float = 1.0  # music fade in and out, seconds
    crossfade: float = 0.0  # seconds each scene fades into the next
    settings: dict[str, Any] = field(default_factory=dict)

    def config(self, profile: str | None = None, *layers: Mapping[str, Any]) -> VideoConfig:
        """The film's config: `profile` (else the storyboard's own, else "standard"), then
        the storyboard's settings, then each of `layers` in turn (a config file, CLI flags)."""
        settings = dict(self.settings)
        config = load_config(profile or settings.pop("profile", None) or "standard",
                             overrides={k: v for k, v in settings.items() if k != "profile"})
        for layer in layers:
            config = config.replace(**{k: v for k, v in layer.items() if k != "profile"})
        return config


# -- prompts -----------------------------------------------------------------------------

def _split(text: str, ends: str) -> list[str]:
    """Pieces of `text`, each ending at a character of `ends` (kept, with any run of them
    like "?!" or "……"). An ASCII '.', ',' or ':' ends a piece only before a space or the
    end of the text, so 3.5, 1,000 and 10:30 stay whole."""
    pieces, start, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch in ends and (ch not in ".,:" or i + 1 == len(text) or text[i + 1].isspace()):
            i += 1
            while i < len(text) and text[i] in ends:
                i += 1
            pieces.append(text[start:i])
            start = i
        else:
            i += 1
    pieces.append(text[start:])
    return [p.strip() for p in pieces if p.strip(ends + " \t\r\n")]


def split_prompt(prompt: str) -> list[str]:
    """Scene texts from a prompt.

    Several sentences: one scene each. One sentence made of clauses: the whole sentence as
    the title scene, then one scene per clause. One plain sentence: one scene. Chinese and
    Western punctuation both count (。！？； ， 、 as well as . ! ? ; ,).
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt must be a non-empty string")
    sentences = _split(prompt.strip(), SENTENCE_ENDS)
    if len(sentences) > 1:
        return sentences
    clauses = [c.rstrip(CLAUSE_ENDS).strip() for c in _split(sentences[0], CLAUSE_ENDS)]
    return [sentences[0], *clauses] if len(clauses) > 1 else sentences


def storyboard_from_prompt(prompt: str, config: VideoConfig | None = None) -> Storyboard:
    """A storyboard made from a bare prompt (see `split_prompt`), captions on.

    `config` is accepted for symmetry with `render_storyboard`; a prompt storyboard carries
    no settings of its own, so the caller's config applies unchanged.
    """
    scenes = tuple(Scene(text=text) for text in split_prompt(prompt))
    if len(scenes) > MAX_SCENES:
        raise InputError(f"the prompt makes {len(scenes)} scenes; accepted: at most "
                         f"{MAX_SCENES} (sentences and clauses)")
    return Storyboard(title=prompt.strip(), scenes=scenes)


# -- storyboard files --------------------------------------------------------------------

def load_storyboard(path: str | Path) -> Storyboard:
    """A storyboard from a YAML or JSON file; relative image/music paths are relative to it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"storyboard file {str(path)!r} does not exist")
    try:
        data = read_config_file(path)
    except ConfigError as e:
        message = " ".join(str(e).split())  # YAML's messages span lines; the CLI shows one
        raise InputError(message.replace("config file", "storyboard file")) from None
    return storyboard_from_dict(data, base_dir=path.parent)


def _unknown_keys(data: Mapping, accepted, where: str) -> None:
    for key in data:
        if key not in accepted:
            raise InputError(f"{where}: unknown key {key!r}{did_you_mean(key, accepted)}; "
                             f"accepted: {', '.join(accepted)}")


def _number(value, name: str, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} must be a number, got {value!r}")
    if value < low or value > high or (low_open and value == low):
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise InputError(f"{name}={value!r} is out of range; accepted: {bound} and <= {high:g}")
    return float(value)


def _file(value, name: str, base_dir: Path, root: Path | None) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be a file path, got {value!r}")
    path = (base_dir / value).resolve()
    if root is not None and not path.is_relative_to(root.resolve()):
        raise InputError(f"{name} {value!r} is outside the folder storyboard files may use")
    if not path.is_file():
        raise InputError(f"{name} {value!r} does not exist")
    return path


def _settings(value, where: str, allowed) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: settings must be a mapping of setting names to values")
    for key in value:
        if key not in allowed:
            hint = (" (film-wide settings go in the storyboard's top-level settings)"
                    if key in setting_names() else did_you_mean(key, allowed))
            raise InputError(f"{where}: setting {key!r} cannot be set here{hint}; "
                             f"accepted: {', '.join(allowed)}")
    return dict(value)


def storyboard_from_dict(data: Mapping[str, Any], *, base_dir: str | Path = ".",
                         root: str | Path | None = None) -> Storyboard:
    """Validate a storyboard mapping (as read from YAML/JSON).

    base_dir: what relative paths are relative to. root: when given, every file the
    storyboard names must lie inside it (the HTTP API confines storyboards to its inputs/).
    Settings are checked here against the defaults and again against the real config when
    rendering. Raises InputError / ConfigError naming the scene and key.
    """
    if not isinstance(data, Mapping):
        raise InputError("a storyboard must be a mapping with a 'scenes' list")
    _unknown_keys(data, BOARD_KEYS, "storyboard")
    base_dir = Path(base_dir)
    root = Path(root) if root is not None else None
    raw_scenes = data.get("scenes")
    if not isinstance(raw_scenes, list) or not raw_scenes:
        raise InputError("storyboard: 'scenes' must be a non-empty list")
    if len(raw_scenes) > MAX_SCENES:
        raise InputError(f"storyboard: {len(raw_scenes)} scenes; accepted: at most {MAX_SCENES}")
    settings = dict(data.get("settings") or {})
    if not isinstance(data.get("settings") or {}, Mapping):
        raise InputError("storyboard: settings must be a mapping of setting names to values")
    profile = settings.pop("profile", None)
    base = VideoConfig().replace(**settings)  # raises ConfigError naming the setting
    scenes = []
    for i, raw in enumerate(raw_scenes, 1):
        where = f"scene {i}"
        if isinstance(raw, str):
            raw = {"text": raw}
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: must be a text or a mapping with 'text'")
        _unknown_keys(raw, SCENE_KEYS, where)
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: 'text' must be a non-empty string")
        overrides = _settings(raw.get("settings"), where, SCENE_SETTINGS)
        try:
            base.replace(**overrides)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        image = raw.get("image")
        duration = raw.get("duration")
        scenes.append(Scene(
            text=text.strip(),
            image=_file(image, f"{where}: image", base_dir, root) if image is not None
            else None,
            duration=_number(duration, f"{where}: duration", 0, MAX_SCENE_SECONDS,
                             low_open=True) if duration is not None else None,
            settings=overrides,
        ))
    subtitles = data.get("subtitles", "on")
    if isinstance(subtitles, bool):  # YAML reads a bare on/off as a boolean
        subtitles = "on" if subtitles else "off"
    if subtitles not in SUBTITLE_MODES:
        raise InputError(f"storyboard: subtitles={subtitles!r}; accepted: "
                         + ", ".join(SUBTITLE_MODES))
    title = data.get("title", scenes[0].text)
    if not isinstance(title, str):
        raise InputError(f"storyboard: title must be a string, got {title!r}")
    music = data.get("music")
    if profile is not None:
        settings["profile"] = profile
    return Storyboard(
        title=title,
        scenes=tuple(scenes),
        subtitles=subtitles,
        music=_file(music, "music", base_dir, root) if music is not None else None,
        volume=_number(data.get("volume", 1.0), "volume", 0, 10),
        fade=_number(data.get("fade", 1.0), "fade", 0, MAX_SCENE_SECONDS),
        crossfade=_number(data.get("crossfade", 0.0), "crossfade", 0, MAX_SCENE_SECONDS),
        settings=settings,
    )


# -- keyframes ---------------------------------------------------------------------------

class TextToImage:
    """A diffusers text-to-image pipeline (AutoPipelineForText2Image) for scene keyframes.

    `model` is a local folder saved by diffusers (e.g. a downloaded stabilityai/sd-turbo);
    nothing is fetched from the hub. The defaults, one step without guidance, are SD-Turbo's.
    """

    def __init__(self, model: str | Path, *, steps: int = 1, guidance_scale: float = 0.0,
                 device: str = "auto"):
        self.model, self.steps, self.guidance_scale = str(model), steps, guidance_scale
        self.device = device
        self._pipe = None

    @classmethod
    def from_env(cls) -> TextToImage | None:
        """The model named by $SVLAB_TEXT2IMAGE, or None when it is unset."""
        model = os.environ.get(TEXT2IMAGE_ENV, "").strip()
        return cls(model) if model else None

    def load(self):
        if self._pipe is None:
            import torch
            from diffusers import AutoPipelineForText2Image

            from .models import resolve_device

            device = resolve_device(self.device)
            dtype = torch.float16 if device == "cuda" else torch.float32
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(
                    self.model, dtype=dtype, local_files_only=True)
            except (OSError, ValueError) as e:
                raise ModelUnavailableError(
                    f"text-to-image model {self.model!r} cannot be loaded: {e}") from None
            pipe.set_progress_bar_config(disable=True)
            self._pipe = pipe.to(device)
        return self._pipe

    def __call__(self, text: str, width: int, height: int, seed: int):
        import torch

        pipe = self.load()
        generator = torch.Generator("cpu").manual_seed(seed)
        result = pipe(prompt=text, width=width, height=height, generator=generator,
                      num_inference_steps=self.steps, guidance_scale=self.guidance_scale)
        return result.images[0].convert("RGB")

    def unload(self) -> None:
        self._pipe = None


def keyframe(scene: Scene, config: VideoConfig, *, index: int = 0,
             text2image: TextToImage | None = None) -> tuple[Any, dict[str, Any]]:
    """The scene's conditioning image at the config's size, and how it was made."""
    from .processor import placeholder_image
    from .service import load_image

    if scene.image is not None:
        return load_image(scene.image, config.width, config.height), \
            {"source": "image", "image": str(scene.image)}
    reason = None
    if text2image is not None:
        try:
            image = text2image(scene.text, config.width, config.height, config.seed)
            return load_image(image, config.width, config.height), \
                {"source": "text-to-image", "model": text2image.model}
        except ModelUnavailableError as e:
            reason = str(e)
            log.warning("placeholder keyframe for scene %d: %s", index + 1, reason)
    card = placeholder_image(scene.text, config.width, config.height,
                             color=CARD_COLORS[index % len(CARD_COLORS)])
    return card, {"source": "placeholder", "reason": reason or "no image and no "
                  f"text-to-image model (set ${TEXT2IMAGE_ENV})"}


# -- rendering ---------------------------------------------------------------------------

def fit_duration(frames: np.ndarray, fps: float, duration: float | None) -> np.ndarray:
    """Frames lasting `duration` seconds at `fps`: trimmed when the clip is longer, each frame
    held proportionally longer (slower motion, same content) when it is shorter."""
    if duration is None:
        return frames
    count = max(1, round(duration * fps))
    if count <= len(frames):
        return frames[:count]
    return frames[np.arange(count) * len(frames) // count]


def caption_times(durations: list[float], crossfade: float) -> list[tuple[float, float]]:
    """(start, end) of each scene's caption in the joined video: scenes overlap by the
    crossfade, and a caption changes halfway through each crossfade."""
    starts = [sum(durations[:i]) - i * crossfade for i in range(len(durations))]
    total = starts[-1] + durations[-1]
    cuts = [s + crossfade / 2 for s in starts[1:]]
    return list(zip([0.0, *cuts], [*cuts, total]))


def render_storyboard(
    board: Storyboard,
    config: VideoConfig,
    out: str | Path | None = None,
    *,
    loader=None,
    callback: Callable[[dict], None] | None = None,
    text2image: TextToImage | None = None,
):
    """Render `board` with `config` into one MP4 at `out`; returns a GenerationResult.

    Scene settings are applied over `config` (the board's own `settings` are not: merge them
    first with `board.config(...)`). `text2image` defaults to $SVLAB_TEXT2IMAGE. The callback
    gets the service's events with "scene" (1-based) and "scenes" added; an exception it
    raises (e.g. a cancellation) ends the run, and nothing is left behind: every
    intermediate lives in a hidden folder beside `out`, removed in all cases.
    """
    from .manifest import to_json_safe, write_manifest
    from .memory import StageTracker
    from .processor import read_video, write_video
    from .processor.compose import Caption, add_music, burn_subtitles, write_subtitles
    from .processor.concat import concat_videos
    from .service import (
        GenerationResult, device_of, build_manifest, generate_clip, interpolate_frames,
        output_path,
    )

    n = len(board.scenes)
    configs = []
    for i, scene in enumerate(board.scenes, 1):
        try:
            configs.append(config.replace(**scene.settings))
        except ConfigError as e:
            raise ConfigError(f"scene {i}: {e}") from None
    out = output_path(out)
    text2image = text2image if text2image is not None else TextToImage.from_env()
    tracker = StageTracker(device_of(config), release_heap=False)
    notify = callback or (lambda event: None)
    work = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", suffix=".parts", dir=out.parent))
    sidecars: dict[str, Path] = {}
    placed = False
    try:
        keyframes = []
        with tracker.stage("keyframes"):
            for i, (scene, cfg) in enumerate(zip(board.scenes, configs)):
                notify({"stage": "keyframe", "scene": i + 1, "scenes": n})
                keyframes.append(keyframe(scene, cfg, index=i, text2image=text2image))
        if text2image is not None:
            text2image.unload()  # free its memory before the video model runs

        paths, records, durations, fps = [], [], [], None
        for i, (scene, cfg, (image, made)) in enumerate(zip(board.scenes, configs, keyframes)):
            def scene_callback(event, i=i):
                notify({**event, "scene": i + 1, "scenes": n})

            scene_callback({"stage": "clip"})
            clip = generate_clip(image, cfg, prompt=scene.text, loader=loader,
                                 callback=scene_callback, tracker=tracker)
            frames, fps = interpolate_frames(clip.frames, cfg, tracker)
            frames = fit_duration(frames, fps, scene.duration)
            durations.append(len(frames) / fps)
            path = work / f"scene{i:03d}.mp4"
            p = cfg.processing
            with tracker.stage("encoding"):
                write_video(frames, path, fps, quality=p.quality, pixel_format=p.pixel_format,
                            lossless=p.lossless)
            paths.append(path)
            records.append({
                "scene": i + 1, "text": scene.text, "keyframe": made,
                "settings": scene.settings, "frames": len(frames),
                "duration": round(durations[-1], 3), **clip.record,
            })

        notify({"stage": "composing", "scene": n, "scenes": n})
        with tracker.stage("concat"):
            if n > 1:
                joined = work / "joined.mp4"
                concat = concat_videos(paths, joined, crossfade=board.crossfade,
                                       quality=config.processing.quality)
            else:
                joined, concat = paths[0], None
        captions = [Caption(start, end, scene.text) for scene, (start, end) in
                    zip(board.scenes, caption_times(durations, board.crossfade))]
        current = joined
        if board.subtitles == "burn":
            srt = write_subtitles(captions, work / "captions.mp4")["srt"]
            with tracker.stage("subtitles"):
                current = burn_subtitles(current, srt, work / "burned.mp4",
                                         quality=config.processing.quality,
                                         pixel_format=config.processing.pixel_format)
        if board.music is not None:
            with tracker.stage("music"):
                current = add_music(current, board.music, work / "music.mp4",
                                    volume=board.volume, fade_in=board.fade,
                                    fade_out=board.fade)
        if board.subtitles != "off":
            sidecars = write_subtitles(captions, out)
        os.replace(current, out)
        placed = True
        frames, fps = read_video(out)
    except BaseException:
        if not placed:  # captions without their video would be a half-written result
            for path in sidecars.values():
                path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)

    engines = {r["engine"] for r in records}
    record = {
        "engine": engines.pop() if len(engines) == 1 else "mixed",
        "fallback_reason": next((r["fallback_reason"] for r in records
                                 if r["fallback_reason"]), None),
        "recovery": [step for r in records for step in r["recovery"]],
        "model_info": next((r["model_info"] for r in records if r["model_info"]), None),
        "scenes": records,
    }
    inputs = {"storyboard": board.title, "scenes": n}
    try:
        manifest = build_manifest(config, record, tracker, inputs, out, frames, fps)
        manifest.update(to_json_safe({
            "storyboard": {"title": board.title, "subtitles": board.subtitles,
                           "music": board.music.name if board.music else None,
                           "volume": board.volume, "fade": board.fade,
                           "crossfade": board.crossfade},
            "captions": {k: v.name for k, v in sidecars.items()} or None,
            "concat": {"method": concat["method"], "reason": concat["reason"]} if concat else None,
        }))
        write_manifest(out, manifest)
    except BaseException:  # a video without its manifest is a partial result
        for path in (out, *sidecars.values()):
            path.unlink(missing_ok=True)
        raise
    return GenerationResult(frames=frames, video_path=out, manifest=manifest)
