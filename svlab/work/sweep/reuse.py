"""What runs of one image share, computed once: the image embedding and the encoded image
latents of a loaded pipeline, reused by the next run whose inputs to them are identical.

Reuse is keyed by content, never by settings: the key of a call is a hash of its actual
arguments (the image's pixels, the tensor's bytes, dtype, shape and device, the flags) and of
the dtype and device of every weighted component. A cached result is returned only for a call
it was computed from, bit for bit, so reuse cannot change a frame. This matters for SVD:
its image latents are the VAE encoding of the image *plus noise drawn from the run's seed*
(scaled by noise_aug_strength), so they are shared only by runs of one image with the same
seed and noise augmentation (a seed x motion_bucket_id grid, for instance), while the CLIP
image embedding is shared by every run of the image.

The methods cached are the pipeline's own conditioning steps, which each family declares
(`Family.conditioning` in svlab/models: SVD's image embedding and image latents; the prompt
embeddings of LTX-Video, Wan and CogVideoX, and Wan2.1's CLIP image embedding). The patch lives
on the pipeline instance for the duration of a `conditioning_reuse` block and is removed after.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from svlab.models import Family

ENTRIES = 4  # results kept per method: the current image's, and a few before


class NotFingerprintable(TypeError):
    """An argument whose content cannot be hashed: that call is not reused."""


@dataclass
class ReuseStats:
    """Calls answered from the cache (hits) and computed (misses)."""

    hits: int = 0
    misses: int = 0


class ConditioningCache:
    """Memoises a pipeline's conditioning methods by the content of their arguments."""

    def __init__(self, pipe, family: Family):
        self.pipe = pipe
        self.family = family
        self.stats = ReuseStats()
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._originals: dict[str, Callable] = {}

    def install(self) -> None:
        for name in self.family.conditioning:
            original = getattr(self.pipe, name)
            self._originals[name] = original
            setattr(self.pipe, name, self._cached(name, original))

    def remove(self) -> None:
        for name in self._originals:
            delattr(self.pipe, name)  # the class's method shows through again
        self._originals.clear()
        self._entries.clear()

    def _cached(self, name: str, original: Callable) -> Callable:
        def call(*args, **kwargs):
            try:
                key = (name, self._components(), fingerprint(args), fingerprint(kwargs))
            except NotFingerprintable:
                return original(*args, **kwargs)  # cannot tell identical calls apart
            if key in self._entries:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return self._entries[key]
            result = original(*args, **kwargs)
            self.stats.misses += 1
            self._entries[key] = result
            while len(self._entries) > ENTRIES * len(self._originals):
                self._entries.popitem(last=False)
            return result
        return call

    def _components(self) -> tuple:
        """The dtype and device of each weighted component: a VAE upcast to fp32 by the
        recovery ladder, or moved by offload, encodes differently."""
        found = []
        for component in self.family.weighted:
            module = getattr(self.pipe, component, None)
            parameter = next(module.parameters(), None) if module is not None else None
            found.append((component, None if parameter is None else
                          (str(parameter.dtype), str(parameter.device))))
        return tuple(found)


@contextlib.contextmanager
def conditioning_reuse(pipe, family: Family | None) -> Iterator[ReuseStats]:
    """Within the block, the pipeline's conditioning steps are reused where their inputs are
    identical; yields the counts of reused and computed calls. A pipeline of a family that
    declares no conditioning methods (or None) runs unchanged."""
    if pipe is None or family is None:
        yield ReuseStats()
        return
    cache = ConditioningCache(pipe, family)
    cache.install()
    try:
        yield cache.stats
    finally:
        cache.remove()


def fingerprint(value: Any) -> Any:
    """A hashable summary of an argument that differs whenever the argument's content does."""
    import torch
    from PIL import Image

    if isinstance(value, torch.Tensor):
        data = value.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy()
        return ("tensor", str(value.dtype), tuple(value.shape), str(value.device),
                hashlib.sha256(data.tobytes()).hexdigest())
    if isinstance(value, Image.Image):
        return ("image", value.mode, value.size, hashlib.sha256(value.tobytes()).hexdigest())
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape,
                hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(fingerprint(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, fingerprint(v)) for k, v in value.items())))
    if value is None or isinstance(value, (bool, int, float, str, torch.device, torch.dtype)):
        return (type(value).__name__, str(value))
    raise NotFingerprintable(type(value).__name__)
