"""Stable run keys: a run is named by what determines its frames, so that the same run in
another sweep, or in the same sweep run again, lands on the same file and is not made twice.

A key hashes the run's normalised settings (every setting as the resolved config holds it,
so `profile: cpu-tiny` and the same values written out give one key), the content hash of its
input image's pixels and its prompt, and the model that will run: its resolved name, the
revision of its weights (a Hugging Face snapshot's commit) and the device it runs on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError, ModelUnavailableError
from svlab.models import resolve_model
from svlab.run.clip import device_of, model_to_load
from svlab.work.sweep.spec import SweepInput

KEY_LENGTH = 16  # hex digits: 64 bits, no collision in any sweep a person can run


@dataclass(frozen=True)
class ModelIdentity:
    """The model a run will use: what runs ("fallback" for the fallback engine), the revision
    of its weights when known, and the device."""

    model: str
    revision: str | None
    device: str


def model_identity(config: VideoConfig) -> ModelIdentity:
    """Which model `config` runs, found without loading it (`model="auto"` is resolved the way
    a run resolves it). A model whose weights are missing keeps its name: the run will say
    why it failed, or fall back."""
    model, _ = model_to_load(config)
    if model is None:
        return ModelIdentity("fallback", None, "cpu")
    try:
        resolved = resolve_model(model, download=False)
        name, revision = resolved.id, resolved.revision
    except (ModelUnavailableError, ConfigError):
        name, revision = model, None
    return ModelIdentity(name, revision, device_of(config))


def run_key(config: VideoConfig, source: SweepInput, model: ModelIdentity) -> str:
    """The run's key: a hex digest of its settings, input and model."""
    payload = {
        "settings": config.to_dict(),
        "image": source.pixels_sha256,
        "prompt": source.prompt,
        "model": asdict(model),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]
