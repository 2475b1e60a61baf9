"""Keyframes from text: a diffusers text-to-image pipeline for storyboard scenes that have no
image of their own."""

from __future__ import annotations

import os
from pathlib import Path

from svlab.core.errors import ModelUnavailableError
from svlab.models.build import quiet_libraries
from svlab.models.loader import resolve_device

TEXT2IMAGE_ENV = "SVLAB_TEXT2IMAGE"  # a local diffusers text-to-image folder, e.g. SD-Turbo


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

            device = resolve_device(self.device)
            dtype = torch.float16 if device == "cuda" else torch.float32
            try:
                with quiet_libraries():
                    pipe = AutoPipelineForText2Image.from_pretrained(
                        self.model, dtype=dtype, local_files_only=True)
            except (OSError, ValueError, ImportError) as e:
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
