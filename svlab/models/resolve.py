"""Where a model's weights are: a registry id, a local folder or a Hugging Face hub id, mapped
to a local diffusers folder without ever touching the network unless the user allows it.

Resolution never hangs: hub lookups are made with `local_files_only=True` (no request at all)
unless `SVLAB_ALLOW_DOWNLOAD=1`, so a machine without weights gets one clear error at once,
naming every place that was searched and how to provide the weights.

Environment:
    SVLAB_MODEL           the model `model="auto"` means (registry id, folder or hub id);
                          default `svd-xt`
    SVLAB_MODELS_DIR      local folders named by registry id (`<dir>/svd-xt/model_index.json`);
                          default ~/.cache/svlab/models; the `tiny` model is built here
    HF_HOME, HF_HUB_CACHE the Hugging Face cache (`huggingface-cli download` fills it)
    SVLAB_ALLOW_DOWNLOAD  `1` lets svlab download missing hub weights
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from svlab.core.errors import ConfigError, ModelUnavailableError
from svlab.models.build import write_tiny_model
from svlab.models.family import Family, ModelSpec
from svlab.models.registry import (
    FAMILIES, family_by_pipeline, family_of, get_spec, is_registered, list_specs,
    spec_by_hub_id,
)

log = logging.getLogger(__name__)

DEFAULT_REAL_MODEL = "svd-xt"
FALLBACK = "fallback"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a download fetches: the pipeline's configs and its per-component safetensors (not the
# original single-file checkpoint that the SVD repos also hold, nor sample media).
_DOWNLOAD_PATTERNS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.safetensors"]


@dataclass(frozen=True)
class ResolvedModel:
    """A model name mapped to a local diffusers folder.

    `source` is how the name was read ("registry", "folder" or "hub"); `found_in` is where the
    weights were found ("SVLAB_MODELS_DIR", "hf-cache", "download", "built" for the tiny model,
    "folder"); `revision` is the commit hash when the folder is a Hugging Face cache snapshot.
    """

    name: str
    source: str
    path: Path
    found_in: str
    family: Family
    hub_id: str | None = None
    revision: str | None = None
    spec: ModelSpec | None = None

    @property
    def id(self) -> str:
        """The registry id when there is one, else the name as given."""
        return self.spec.id if self.spec else self.name

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "source": self.source, "path": str(self.path),
                "found_in": self.found_in, "family": self.family.name, "hub_id": self.hub_id,
                "revision": self.revision}


def models_dir() -> Path:
    """The folder of locally kept models, one subfolder per registry id."""
    return Path(os.environ.get("SVLAB_MODELS_DIR") or "~/.cache/svlab/models").expanduser()


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or "~/.cache/huggingface"
    return Path(home).expanduser() / "hub"


def download_allowed() -> bool:
    return os.environ.get("SVLAB_ALLOW_DOWNLOAD", "").strip().lower() in ("1", "true", "yes")


def resolve_model(name: str, *, download: bool | None = None) -> ResolvedModel:
    """Map a registry id, a local folder or a hub id ("org/name") to a local diffusers folder.

    A registry id is looked for in SVLAB_MODELS_DIR/<id>, then (for `mini`) in the package,
    then in the Hugging Face cache under its hub id; `tiny` is built into SVLAB_MODELS_DIR/tiny on first use. `download` (default:
    SVLAB_ALLOW_DOWNLOAD) lets a missing hub model be fetched; otherwise no network request is
    made. Raises ModelUnavailableError naming what was searched when nothing is found.
    """
    download = download_allowed() if download is None else download
    if name in ("auto", FALLBACK):
        raise ConfigError(f"model={name!r} is a choice, not a model: resolve it with "
                          "choose_model(config) first")
    if is_registered(name):
        return _resolve_registry(get_spec(name), download=download)
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")) or os.sep in name and not _HUB_ID.match(name):
        folder, family = inspect_folder(path)
        return ResolvedModel(name=name, source="folder", path=folder, found_in="folder",
                             family=family)
    if _HUB_ID.match(name):
        return _resolve_hub(name, spec=spec_by_hub_id(name), source="hub", download=download,
                            looked=[])
    ids = ", ".join(spec.id for spec in list_specs())
    raise ConfigError(
        f"unknown model {name!r}; accepted: a registry id ({ids}), a folder "
        "holding a diffusers pipeline (model_index.json), or a Hugging Face hub id org/name"
    )


def choose_model(config) -> tuple[str, str]:
    """The model a config asks for, and why: `(name, reason)`.

    `model="auto"` means the configured real model (SVLAB_MODEL, default svd-xt) when its
    weights are present locally, or when downloads are allowed and a CUDA device can run it;
    otherwise "fallback" with the reason. `model="fallback"` and explicit names pass through
    (an explicit model that then fails to load is the caller's to report).
    """
    if config.model == FALLBACK:
        return FALLBACK, "model='fallback' asks for the fallback engine"
    if config.model != "auto":
        return config.model, f"model={config.model!r} was asked for"
    target = os.environ.get("SVLAB_MODEL") or DEFAULT_REAL_MODEL
    try:
        resolved = resolve_model(target, download=False)
    except ConfigError as e:
        raise ConfigError(f"SVLAB_MODEL={target!r}: {e}") from None
    except ModelUnavailableError as e:
        if download_allowed() and _cuda_available():
            return target, f"auto: {target} will be downloaded (SVLAB_ALLOW_DOWNLOAD=1)"
        return FALLBACK, f"auto: {e}"
    return target, f"auto: weights of {target} found in {resolved.path}"


def check_folder(path: Path) -> Path:
    """`path` if it holds a pipeline of a family svlab runs, in diffusers layout; else a
    ModelUnavailableError saying what is missing. Checks files only, loads nothing."""
    return inspect_folder(path)[0]


def inspect_folder(path: Path) -> tuple[Path, Family]:
    """`check_folder`'s path, and the family of the pipeline the folder holds."""
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise ModelUnavailableError(f"model folder {path} does not exist")
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise ModelUnavailableError(
            f"{path} is not a diffusers pipeline folder: it has no model_index.json (write one "
            "with pipeline.save_pretrained(folder), or `svlab tiny-model FOLDER` for the test model)"
        )
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelUnavailableError(f"{index_file} is unreadable: {e}") from None
    found = index.get("_class_name") if isinstance(index, dict) else None
    family = family_by_pipeline(found) if isinstance(found, str) else None
    if family is None:
        accepted = ", ".join(f.pipeline_class for f in FAMILIES.values())
        raise ModelUnavailableError(
            f"{path} holds a {found or 'unknown'} pipeline; svlab runs {accepted}")
    present = [c for c in family.weighted if c == family.denoiser
               or isinstance(index.get(c), list) and index[c][0] is not None]
    for component in present:  # a family's models may lack some (Wan2.2: no image encoder)
        folder = path / component
        if not (folder / "config.json").is_file():
            raise ModelUnavailableError(f"{path} is incomplete: {component}/config.json is missing")
        if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
            raise ModelUnavailableError(f"{path} is incomplete: {component}/ has no weights")
    return path, family


def _resolve_registry(spec: ModelSpec, *, download: bool) -> ResolvedModel:
    local = models_dir() / spec.id
    family = family_of(spec)
    if (local / "model_index.json").is_file():
        return ResolvedModel(name=spec.id, source="registry", path=_check_family(local, family),
                             found_in="SVLAB_MODELS_DIR", family=family, hub_id=spec.hub_id,
                             spec=spec)
    if spec.weights is not None:  # shipped with the package
        return ResolvedModel(name=spec.id, source="registry",
                             path=_check_family(shipped_weights(spec), family),
                             found_in="package", family=family, spec=spec)
    if spec.hub_id is None:  # a tiny model: built here, never downloaded
        return ResolvedModel(name=spec.id, source="registry",
                             path=write_tiny_model(local, spec.id), found_in="built",
                             family=family, spec=spec)
    return _resolve_hub(spec.hub_id, spec=spec, source="registry", download=download,
                        looked=[str(local)])


def shipped_weights(spec: ModelSpec) -> Path:
    """The folder of weights that ship with the package for `spec` (svlab's `mini`)."""
    return Path(__file__).resolve().parent / "weights" / spec.weights


def _resolve_hub(hub_id: str, *, spec: ModelSpec | None, source: str, download: bool,
                 looked: list[str]) -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    name = spec.id if spec else hub_id
    cache = hf_cache_dir()
    try:
        folder = snapshot_download(hub_id, cache_dir=cache, local_files_only=True)
        found_in = "hf-cache"
    except LocalEntryNotFoundError:
        if not download:
            raise ModelUnavailableError(_missing_message(name, hub_id, looked, cache)) from None
        log.info("downloading %s into %s", hub_id, cache)
        try:
            folder = snapshot_download(hub_id, cache_dir=cache, allow_patterns=_DOWNLOAD_PATTERNS)
        except Exception as e:  # network, authentication (gated repos), disk: all unusable
            raise ModelUnavailableError(f"cannot download {hub_id}: {e}") from None
        found_in = "download"
    folder, family = inspect_folder(Path(folder))
    if spec is not None:
        _check_family(folder, family_of(spec))
    return ResolvedModel(name=name, source=source, path=folder, found_in=found_in,
                         family=family, hub_id=hub_id, revision=folder.name, spec=spec)


def _check_family(folder: Path, expected: Family) -> Path:
    """`folder`, checked, when it holds `expected`'s pipeline (a registry id's folder must)."""
    folder, family = inspect_folder(folder)
    if family is not expected:
        raise ModelUnavailableError(f"{folder} holds a {family.pipeline_class}; this model is "
                                    f"a {expected.pipeline_class}")
    return folder


def _missing_message(name: str, hub_id: str, looked: list[str], cache: Path) -> str:
    places = [*looked, f"the Hugging Face cache {cache} (as {hub_id})"]
    return (
        f"no weights for model {name!r}: looked in {' and '.join(places)}. Provide them as a "
        f"local diffusers folder (--model /path/to/folder, or SVLAB_MODEL=/path/to/folder for "
        f"model=auto), put the folder at {models_dir() / name}, point HF_HOME at a cache that "
        f"holds {hub_id} (`huggingface-cli download {hub_id}`), or set SVLAB_ALLOW_DOWNLOAD=1 "
        "to download it"
    )


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
