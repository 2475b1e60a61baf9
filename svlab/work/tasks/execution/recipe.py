"""What a stored task request means: its settings, its storyboard and the clips it makes.

The API checks a request with these functions before storing it (`svlab.work.tasks.api.limits.task_shots`
sizes it from them), and the runner runs it with the same ones, so a request is understood one
way only.

A request is the dict the API stored: `prompt`, `storyboard`, `profile`, `settings` and, for
an upload, `image` (a path relative to the data folder).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError, InputError
from svlab.run.settings import load_config
from svlab.render.storyboards import Storyboard, storyboard_from_dict, storyboard_from_prompt
from svlab.work.tasks.execution.data_folder import DataFolder


def task_config(request: Mapping[str, Any], base: VideoConfig) -> VideoConfig:
    """The settings a task runs with: the server's config (or the named profile), then the
    storyboard's own settings, then the request's settings. Raises ConfigError/InputError."""
    board_settings = (request.get("storyboard") or {}).get("settings") or {}
    if not isinstance(board_settings, Mapping):
        raise InputError("storyboard: settings must be a mapping of setting names to values")
    settings = {**board_settings, **(request.get("settings") or {})}
    profile = settings.pop("profile", None) or request.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ConfigError(f"profile must be a profile name, got {profile!r}")
    return load_config(profile if profile is not None else base, settings)


def task_storyboard(request: Mapping[str, Any], data: DataFolder) -> Storyboard | None:
    """The storyboard a request renders (None for an uploaded image). Storyboard files must
    lie in the data folder's inputs/."""
    if request.get("storyboard") is not None:
        return storyboard_from_dict(request["storyboard"], base_dir=data.inputs,
                                    root=data.inputs)
    if request.get("image"):
        return None
    return storyboard_from_prompt(request["prompt"])

