"""Storyboards: a prompt or a storyboard file read into scenes and film-wide options,
validated before anything is rendered (see `svlab.render.storyboards.renderer` for the rendering).

A storyboard is a list of scenes, each a caption text with an optional keyframe image, an
optional duration and optional per-scene settings, plus film-wide options (captions, music,
crossfade). `svlab story BOARD.yaml` and `svlab generate --prompt ...` both end in
`render_storyboard`, so a prompt and a storyboard take the same road.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from svlab.core.config import VideoConfig, read_config_file, setting_names
from svlab.core.errors import ConfigError, InputError, did_you_mean, require_file
from svlab.run.settings import load_config
from svlab.core.text_caps import MAX_PROMPT_CHARS

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
MAX_TEXT_CHARS = MAX_PROMPT_CHARS  # a scene's caption and a prompt: one cap everywhere

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
        settings = {k: v for k, v in self.settings.items() if k != "profile"}
        for layer in layers:
            settings.update({k: v for k, v in layer.items() if k != "profile"})
        return load_config(profile or self.settings.get("profile") or "standard", settings)


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
    if len(prompt) > MAX_TEXT_CHARS:
        raise InputError(f"prompt has {len(prompt)} characters; accepted: at most "
                         f"{MAX_TEXT_CHARS}")
    sentences = _split(prompt.strip(), SENTENCE_ENDS)
    if not sentences:
        raise InputError(f"prompt {prompt.strip()!r} has no words, only punctuation")
    if len(sentences) > 1:
        return sentences
    clauses = [c.rstrip(CLAUSE_ENDS).strip() for c in _split(sentences[0], CLAUSE_ENDS)]
    return [sentences[0], *clauses] if len(clauses) > 1 else sentences


def storyboard_from_prompt(prompt: str) -> Storyboard:
    """A storyboard made from a bare prompt (see `split_prompt`), captions on; it carries no
    settings of its own, so the caller's config applies unchanged."""
    scenes = tuple(Scene(text=text) for text in split_prompt(prompt))
    if len(scenes) > MAX_SCENES:
        raise InputError(f"the prompt makes {len(scenes)} scenes; accepted: at most "
                         f"{MAX_SCENES} (sentences and clauses)")
    return Storyboard(title=prompt.strip(), scenes=scenes)


# -- storyboard files --------------------------------------------------------------------

def load_storyboard(path: str | Path) -> Storyboard:
    """A storyboard from a YAML or JSON file; relative image/music paths are relative to it."""
    path = require_file(path, "storyboard file")
    try:
        data = read_config_file(path, "storyboard file")
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
    if not isinstance(value, str) or not value.strip() or "\0" in value:
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
    if not isinstance(data.get("settings") or {}, Mapping):
        raise InputError("storyboard: settings must be a mapping of setting names to values")
    settings = dict(data.get("settings") or {})
    if not isinstance(settings.get("profile", ""), str):
        raise InputError(f"storyboard: settings.profile must be a profile name, got "
                         f"{settings['profile']!r}")
    base = VideoConfig().replace(**{k: v for k, v in settings.items() if k != "profile"})
    scenes = tuple(_scene(raw, i, base, base_dir, root) for i, raw in enumerate(raw_scenes, 1))
    subtitles = data.get("subtitles", "on")
    if isinstance(subtitles, bool):  # YAML reads a bare on/off as a boolean
        subtitles = "on" if subtitles else "off"
    if subtitles not in SUBTITLE_MODES:
        raise InputError(f"storyboard: subtitles={subtitles!r}; accepted: "
                         + ", ".join(SUBTITLE_MODES))
    title = data.get("title", scenes[0].text)
    if not isinstance(title, str) or len(title) > MAX_TEXT_CHARS:
        raise InputError(f"storyboard: title must be a string of at most {MAX_TEXT_CHARS} "
                         "characters")
    music = data.get("music")
    return Storyboard(
        title=title,
        scenes=scenes,
        subtitles=subtitles,
        music=_file(music, "music", base_dir, root) if music is not None else None,
        volume=_number(data.get("volume", 1.0), "volume", 0, 10),
        fade=_number(data.get("fade", 1.0), "fade", 0, MAX_SCENE_SECONDS),
        crossfade=_number(data.get("crossfade", 0.0), "crossfade", 0, MAX_SCENE_SECONDS),
        settings=settings,
    )


def _scene(raw: Any, index: int, base: VideoConfig, base_dir: Path, root: Path | None) -> Scene:
    """Scene `index` (1-based) of a storyboard mapping, validated."""
    where = f"scene {index}"
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: must be a text or a mapping with 'text'")
    _unknown_keys(raw, SCENE_KEYS, where)
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: 'text' must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"{where}: 'text' has {len(text)} characters; accepted: at most "
                         f"{MAX_TEXT_CHARS}")
    overrides = _settings(raw.get("settings"), where, SCENE_SETTINGS)
    try:
        base.replace(**overrides)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    image, duration = raw.get("image"), raw.get("duration")
    return Scene(
        text=text.strip(),
        image=_file(image, f"{where}: image", base_dir, root) if image is not None else None,
        duration=_number(duration, f"{where}: duration", 0, MAX_SCENE_SECONDS,
                         low_open=True) if duration is not None else None,
        settings=overrides,
    )
