"""The one cap on prompt text, the same for the command line, sweeps, storyboards and the task
API (a storyboard's title and scene captions are prompts too): a prompt is drawn on cards,
burned in as captions and tokenised, and a model reads at most a few hundred tokens of it."""

from __future__ import annotations

from svlab.core.errors import InputError

MAX_PROMPT_CHARS = 2000


def check_prompt(text: object, where: str = "prompt") -> str | None:
    """`text` when it is None or a string of at most MAX_PROMPT_CHARS characters; else
    InputError naming `where` and the cap."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InputError(f"{where} must be text, got {type(text).__name__}")
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"{where} is {len(text)} characters long; accepted: at most "
                         f"{MAX_PROMPT_CHARS}")
    return text
