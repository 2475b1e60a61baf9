"""Counting the bytes of live tensors while a model runs on PyTorch's meta device.

Meta tensors have shapes and dtypes but no storage, so a full-size model runs its shape
functions only, in well under a second. `tracing()` runs a block that way and counts, through a
`TorchDispatchMode`, every new storage and how long it stays alive (a weak reference each): the
most bytes alive at once is what the block needs beside the weights.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


class LiveBytes:
    """Bytes of tensor storage alive, and their maximum since `reset`, as operators run."""

    def __init__(self, ignore=()):
        """`ignore`: tensors whose storages are never counted (the weights, which the planner
        adds per offload mode, and which a view such as a transposed weight would otherwise
        bring in as if new)."""
        import torch
        from torch.multiprocessing.reductions import StorageWeakRef
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        live: dict[int, tuple[Any, int]] = {}
        ignored = {t.untyped_storage()._cdata for t in ignore}
        self._live = live
        self.current = 0
        self.peak = 0
        tracker = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_leaves(out):
                    if isinstance(t, torch.Tensor):
                        storage = t.untyped_storage()
                        key = storage._cdata
                        if key not in live and key not in ignored:
                            live[key] = (StorageWeakRef(storage), storage.nbytes())
                            tracker.current += storage.nbytes()
                            if tracker.current > tracker.peak:
                                tracker.sweep()
                                tracker.peak = max(tracker.peak, tracker.current)
                return out

        self.mode = Mode()

    def sweep(self) -> None:
        """Forget the storages that died since the last sweep."""
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for k in dead:
            self.current -= self._live.pop(k)[1]

    def reset(self) -> None:
        """Start a new step: the peak restarts from what is alive now."""
        self.sweep()
        self.peak = self.current


@contextlib.contextmanager
def tracing(modules=()) -> Iterator[LiveBytes]:
    """Run the block on the meta device (tensors made in it land there too), without
    gradients, with attention as a flash kernel, and every new storage counted but those of
    `modules`' parameters and buffers."""
    import torch

    weights = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    live = LiveBytes(ignore=weights)
    with torch.device("meta"), torch.no_grad(), _flash_attention(), live.mode:
        yield live


def _flash_attention():
    """`scaled_dot_product_attention` as the flash kernel it is on a GPU (and on a CPU):
    output and log-sum-exp only. On the meta device PyTorch would pick the math fallback,
    which holds the whole L x L attention matrix that no real run allocates."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu

    class FlashAttention(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.scaled_dot_product_attention:
                return _sdpa_as_flash(flash, *args, **kwargs)
            return func(*args, **kwargs)

    return FlashAttention()


def _sdpa_as_flash(flash, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                   scale=None, enable_gqa=False):
    return flash(query, key, value, dropout_p=dropout_p, is_causal=is_causal,
                 attn_mask=attn_mask, scale=scale)[0]
