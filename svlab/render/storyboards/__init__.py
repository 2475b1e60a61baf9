"""Storyboards: a prompt or a storyboard file (`board`) rendered into one video with captions
and music (`render`). See docs/storyboards.md."""

from svlab.render.storyboards.board import (
    Scene, Storyboard, load_storyboard, split_prompt, storyboard_from_dict,
    storyboard_from_prompt,
)
from svlab.render.storyboards.renderer import caption_times, fit_duration, keyframe, render_storyboard

__all__ = ["Scene", "Storyboard", "load_storyboard", "split_prompt", "storyboard_from_dict",
           "storyboard_from_prompt", "caption_times", "fit_duration", "keyframe",
           "render_storyboard"]
