"""The sizes the planner reads off a model's meta-device components: parameters and weight
bytes per component, its largest single layer (what sequential offload keeps) and what
block-level group offloading keeps resident. Plain numbers, so they can be kept on disk
(`svlab.memory.plan_cache`) and a plan asked again needs no model built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DTYPE_ITEMSIZE = {"fp16": 2, "bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class ModelCounts:
    """Per weighted component: parameters, bytes of floating-point parameters and buffers (as
    stored: fp8 where layerwise casting stores them so), bytes of integer buffers (position
    ids), bytes of its largest single module, bytes resident under block-level offload; and
    the byte size of the model's dtype."""

    params: dict[str, int]
    float_bytes: dict[str, int]
    other_bytes: dict[str, int]
    largest_layer: dict[str, int]
    block_group: dict[str, int]
    itemsize: int

    def weight_bytes(self, component: str, dtype_name: str | None = None) -> int:
        """Bytes of `component`'s parameters and buffers, in `dtype_name` if given."""
        return self.scaled(self.float_bytes[component], dtype_name) + self.other_bytes[component]

    def scaled(self, nbytes: int, dtype_name: str | None) -> int:
        """`nbytes` of floating-point weights, in `dtype_name` if given."""
        if dtype_name is None:
            return nbytes
        return nbytes * DTYPE_ITEMSIZE[dtype_name] // self.itemsize


def count_modules(components: tuple[str, ...], modules: dict[str, Any], dtype) -> ModelCounts:
    """The counts of `components` among the meta-device `modules` built in `dtype`."""
    params, floats, others, largest, blocks = {}, {}, {}, {}, {}
    for name in components:
        module = modules[name]
        params[name] = sum(p.numel() for p in module.parameters())
        floats[name], others[name] = _bytes(module, floating=True), _bytes(module, False)
        largest[name] = max(_own_bytes(m) for m in module.modules())
        blocks[name] = _block_group_bytes(module)
    return ModelCounts(params=params, float_bytes=floats, other_bytes=others,
                       largest_layer=largest, block_group=blocks, itemsize=dtype.itemsize)


def _bytes(module, floating: bool) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors
               if t.is_floating_point() == floating)


def _own_bytes(module) -> int:
    tensors = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
    return sum(t.numel() * t.element_size() for t in tensors)


def _block_group_bytes(module) -> int:
    """What diffusers' block-level group offloading (one block per group, the next prefetched
    on a stream) keeps on the device while `module` runs: every weight outside its top-level
    ModuleLists and Sequentials, and its two largest blocks."""
    import torch

    blocks = [b for child in module.children()
              if isinstance(child, (torch.nn.ModuleList, torch.nn.Sequential)) for b in child]
    sizes = sorted((_bytes(b, True) + _bytes(b, False) for b in blocks), reverse=True)
    total = _bytes(module, True) + _bytes(module, False)
    return total - sum(sizes) + sum(sizes[:2])
