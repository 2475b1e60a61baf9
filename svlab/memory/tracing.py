"""Counting the bytes of live tensors while a model runs on PyTorch's meta device.

Meta tensors have shapes and dtypes but no storage, so a full-size model runs its shape
functions only, in well under a second. `tracing()` runs a block that way and counts, through a
`TorchDispatchMode`, every new storage and how long it stays alive (a weak reference each): the
most bytes alive at once is what the block needs beside the weights.

Some kernels allocate scratch that no operator returns, invisible to the dispatch mode. On a
CPU (`tracing(device="cpu")`) the convolutions' and attention's are counted while they run
(`cpu_kernel_scratch`): PyTorch's native 2D and 3D convolutions unfold their input into a
column matrix (kernel volume x input channels x output positions: 27 times the input for a
3x3x3 kernel), which is what the video VAEs' small 3D convolutions run on; oneDNN reorders its
input and weights into its blocked layout; flash attention keeps a block of scores per thread.
CUDA kernels' workspaces (cuDNN, cuBLAS) are not predicted.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


class LiveBytes:
    """Bytes of tensor storage alive, and their maximum since `reset`, as operators run."""

    def __init__(self, ignore=(), scratch=None, recast=False):
        """`ignore`: tensors whose storages are never counted (the weights, which the planner
        adds per offload mode, and which a view such as a transposed weight would otherwise
        bring in as if new). `scratch(func, args)`: bytes an operator allocates and frees
        inside its kernel, alive beside its inputs and outputs while it runs. `recast`: the
        weights may be swapped for casts of themselves (layerwise casting), so each sweep looks
        for them again (slow for a large model: asked only when casting is on)."""
        import torch
        from torch.multiprocessing.reductions import StorageWeakRef
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_leaves

        live: dict[int, tuple[Any, int]] = {}
        self._weights = list(ignore) if recast else []
        ignored = {t.untyped_storage()._cdata: StorageWeakRef(t.untyped_storage())
                   for t in ignore}
        self._ignored = ignored
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
                        if key in live and live[key][0].expired():
                            # a dead storage's address, reused: forget the dead one first
                            tracker.current -= live.pop(key)[1]
                        if key in ignored and ignored[key].expired():
                            del ignored[key]  # a weight replaced (a cast): its address reused
                        if key not in live and key not in ignored:
                            live[key] = (StorageWeakRef(storage), storage.nbytes())
                            tracker.current += storage.nbytes()
                            if tracker.current > tracker.peak:
                                tracker.sweep()
                                tracker.peak = max(tracker.peak, tracker.current)
                extra = scratch(func, args) if scratch is not None else 0
                if extra and tracker.current + extra > tracker.peak:
                    tracker.sweep()
                    tracker.peak = max(tracker.peak, tracker.current + extra)
                return out

        self.mode = Mode()

    def sweep(self) -> None:
        """Forget the storages that died since the last sweep, and those that became weights
        (layerwise casting casts a layer's weights up before it runs and back after: the cast
        back is the stored weight again, which the planner counts apart)."""
        from torch.multiprocessing.reductions import StorageWeakRef

        for weight in self._weights:
            storage = weight.untyped_storage()
            key = storage._cdata
            if key not in self._ignored or self._ignored[key].expired():
                self._ignored[key] = StorageWeakRef(storage)
                if key in self._live:
                    self.current -= self._live.pop(key)[1]
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for k in dead:
            self.current -= self._live.pop(k)[1]

    def reset(self) -> None:
        """Start a new step: the peak restarts from what is alive now."""
        self.sweep()
        self.peak = self.current


@contextlib.contextmanager
def tracing(modules=(), device: str = "cuda", recast: bool = False) -> Iterator[LiveBytes]:
    """Run the block on the meta device (tensors made in it land there too), without
    gradients, with attention as a flash kernel, and every new storage counted but those of
    `modules`' parameters and buffers; for a CPU run (`device="cpu"`), the convolutions'
    convolutions' and attention's scratch too."""
    import torch

    weights = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    live = LiveBytes(ignore=weights, scratch=cpu_kernel_scratch if device == "cpu" else None,
                     recast=recast)
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


def cpu_kernel_scratch(func, args) -> int:
    """Bytes a CPU kernel allocates and frees inside itself, for an operator on meta tensors:
    a convolution's (`cpu_conv_scratch`) or flash attention's (`cpu_attention_scratch`); 0 for
    any other."""
    import torch

    if func is torch.ops.aten.convolution.default:
        return cpu_conv_scratch(*args[:9])
    if func is torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default:
        return cpu_attention_scratch(*args[:3])
    return 0


def cpu_attention_scratch(query, key, value) -> int:
    """PyTorch's CPU flash attention (aten/src/ATen/native/cpu/FlashAttentionKernel.cpp): per
    thread, a block of scores (query block x key block, in float32), their running maximum and
    sum, and an output block; in half precision, the scores again in that precision. Queries
    and keys are (batch, heads, length, head size)."""
    import torch

    q_len, kv_len, head = query.shape[2], key.shape[2], query.shape[3]
    q_split = 256 if q_len >= 768 else 64 if q_len >= 192 else 32
    q_block, kv_block = min(q_split, q_len), min(512, kv_len)
    per_thread = (q_block * kv_block + 2 * q_block + q_block * head) * 4
    if query.dtype in (torch.float16, torch.bfloat16):
        per_thread += q_block * kv_block * query.element_size()
    return torch.get_num_threads() * per_thread


def cpu_conv_scratch(x, weight, _bias, stride, padding, dilation, transposed, output_padding,
                     groups) -> int:
    """Bytes a CPU convolution allocates inside its kernel (the arguments of
    `aten.convolution`, on meta tensors). The backend is the one PyTorch picks for CPU tensors of
    the same shapes and dtype (storage-free stand-ins, so full-size shapes cost nothing):

    - native ("slow") 2D and 3D: the im2col column matrix, (batch, channels x kernel volume,
      output positions), except for the 1x1 stride-1 unpadded kernel, which reads its input
      in place (aten/src/ATen/native/ConvolutionMM{2,3}d.cpp, `compute_columns`);
    - oneDNN: its input and weights reordered into its blocked layout (measured: the
      resident set grows by the output plus about the input and weight bytes).

    Other backends (dilated, transposed, depthwise) are rare in these models: not counted."""
    import torch

    cpu_x = torch.empty((), dtype=x.dtype, device="cpu").expand(x.shape)
    cpu_w = torch.empty((), dtype=weight.dtype, device="cpu").expand(weight.shape)
    backend = torch._C._select_conv_backend(cpu_x, cpu_w, None, stride, padding, dilation,
                                            transposed, output_padding, groups, None)
    kinds = torch._C._ConvBackend
    itemsize = x.element_size()
    if backend in (kinds.Slow2d, kinds.Slow3d):
        kernel = weight.shape[2:]
        if (all(k == 1 for k in kernel) and all(p == 0 for p in padding)
                and all(d == 1 for d in stride) and groups == 1):
            return 0
        positions = 1
        for size, k, p, d, st in zip(x.shape[2:], kernel, padding, dilation, stride):
            positions *= (size + 2 * p - d * (k - 1) - 1) // st + 1
        volume = 1
        for k in kernel:
            volume *= k
        return x.shape[0] * x.shape[1] * volume * positions * itemsize
    if backend == kinds.Mkldnn:
        return (x.numel() + weight.numel()) * itemsize
    return 0
