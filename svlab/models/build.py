"""Models of a spec's real architecture with random weights, built without any download.

Speed and memory do not depend on the weights' values, so full-size benchmarks and memory
plans need no checkpoint; the same path builds the tiny models that tests and demos run and
writes them as ordinary diffusers folders (`write_tiny_model`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from svlab.core.errors import InputError
from svlab.models.family import Family, ModelSpec
from svlab.models.registry import family_of, get_spec, list_specs

log = logging.getLogger(__name__)


def build_modules(spec: ModelSpec, *, dtype=None, device=None, seed: int | None = 0
                  ) -> dict[str, Any]:
    """The weighted components of `spec` (e.g. unet, vae, image_encoder) with random weights.

    Each is built right after `torch.manual_seed(seed)` (unless `seed` is None), so the weights
    are the same on every call. `device` builds the modules there directly (a 1.5e9-parameter
    UNet builds far faster on the GPU than on the CPU and then moved), and in `dtype` (default
    float32) directly, as the default dtype while building, rather than cast afterwards: no
    float32 copy is ever held, and nothing here reads a tensor, so a caller may build under
    FakeTensorMode or on `torch.device("meta")` to count parameters or plan memory.
    """
    import torch

    family = family_of(spec)
    dtype = dtype or torch.float32
    modules = {}
    with quiet_libraries():
        for name in family.weighted_of(spec):
            if seed is not None:
                torch.manual_seed(seed)
            with _default_dtype(dtype), (torch.device(device) if device is not None
                                         else contextlib.nullcontext()):
                module = family.build_module(name, spec.components[name])
            modules[name] = module.eval().requires_grad_(False)
    return modules


def build_components(spec: ModelSpec, *, dtype=None, device=None, seed: int | None = 0
                     ) -> dict[str, Any]:
    """Every pipeline component of `spec`: `build_modules` plus the scheduler, processors and
    tokenizers, keyed as the family's pipeline class takes them.

    Schedulers compute their tables from real tensors when built, so, unlike `build_modules`,
    this does not run under FakeTensorMode.
    """
    components = build_modules(spec, dtype=dtype, device=device, seed=seed)
    with quiet_libraries():
        components.update(family_of(spec).build_extras(spec))
    return components


def build_pipeline(spec: ModelSpec, *, dtype=None, device=None, seed: int | None = 0):
    """The family's diffusers pipeline of `spec`'s architecture, with random weights."""
    pipeline = pipeline_class(family_of(spec))
    return pipeline(**build_components(spec, dtype=dtype, device=device, seed=seed))


def pipeline_class(family: Family):
    """The family's diffusers pipeline class. Importing a pipeline module imports its
    transformers processors, which print backend notices: quietly."""
    import diffusers

    with quiet_libraries():
        return getattr(diffusers, family.pipeline_class)


def write_tiny_model(directory: str | os.PathLike, model: str = "tiny") -> Path:
    """Write the checkpoint of the tiny model `model` to `directory` in the ordinary diffusers
    layout (`save_pretrained`); return the folder.

    The folder is written beside its destination under a temporary name and renamed into place,
    so a reader never sees half a checkpoint, and calling this twice (or from two processes at
    once) is safe: whichever finishes second finds the folder there and keeps it.
    """
    spec = get_spec(model)
    if spec.hub_id is not None or spec.weights is not None:
        raise InputError(f"{model!r} is a published model, not a tiny one; accepted: "
                         + ", ".join(_tiny_ids()))
    target = Path(directory).expanduser().resolve()
    if (target / "model_index.json").is_file():
        return target
    if target.exists() and not target.is_dir():
        raise InputError(f"{target} is a file; give a new or empty folder")
    if target.exists() and any(target.iterdir()):
        raise InputError(f"{target} exists and is not empty; give a new or empty folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise InputError(f"cannot create {target}: {e.strerror or e}") from None
    try:
        pipe = build_pipeline(spec)
        with quiet_libraries():
            pipe.save_pretrained(staging, safe_serialization=True)
        try:
            if target.exists():
                target.rmdir()  # empty, checked above, unless another writer just filled it
            staging.rename(target)
        except OSError:
            if not (target / "model_index.json").is_file():
                raise  # not a concurrent writer winning the race
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("wrote %s to %s", model, target)
    return target


def _tiny_ids() -> list[str]:
    return [s.id for s in list_specs() if s.hub_id is None and s.weights is None]


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """No loading bars and no notices from diffusers and transformers while building or
    loading: a load is one logged line here, and their notices (fp16 modules on a CPU, an image
    processor's backend) are not news to a user of svlab; the CLI's contract is one line of
    stderr for an error."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    libraries = (diffusers_logging, transformers_logging)
    before = [(lib.get_verbosity(), lib.is_progress_bar_enabled()) for lib in libraries]
    for lib in libraries:
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    try:
        yield
    finally:  # as it was: these contexts nest
        for lib, (verbosity, bars) in zip(libraries, before):
            lib.set_verbosity(verbosity)
            if bars:
                lib.enable_progress_bar()


@contextlib.contextmanager
def _default_dtype(dtype) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
