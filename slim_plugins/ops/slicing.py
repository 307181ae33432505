# Copyright (c) slim_plugins contributors. All rights reserved.
"""Leading-slice of a parameter with a cheap backward.

``weight[:c_out, :c_in]`` through autograd chains two ``SliceBackward``
nodes, each allocating and zero-filling a gradient of its input's size, then
copying into it. :class:`LeadingSlice` does one allocation, one copy of the
active gradient and zeroes only the inactive part, and hands the layer a
contiguous weight. Without autograd (eval, calibration under ``no_grad``,
export) the contiguous copy is cached and reused until the parameter changes
(keyed by its storage and ``_version``).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch


class LeadingSlice(torch.autograd.Function):
    """``tensor[:s0, :s1, ...]`` as a contiguous copy; full-size gradient."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor,
                sizes: Tuple[int, ...]) -> torch.Tensor:
        ctx.full_shape = tensor.shape
        ctx.sizes = sizes
        return tensor[tuple(slice(0, s) for s in sizes)].contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> Tuple[torch.Tensor, None]:
        sizes = ctx.sizes
        full = grad.new_empty(ctx.full_shape)
        full[tuple(slice(0, s) for s in sizes)].copy_(grad)
        # Zero the complement only: the active block is written once.
        for dim, size in enumerate(sizes):
            if size < ctx.full_shape[dim]:
                index = tuple(slice(0, s) for s in sizes[:dim]) + (slice(
                    size, None), )
                full[index].zero_()
        return full, None


class SliceCache:
    """Contiguous leading slices of a layer's tensors, reused across calls.

    Only used when no gradient is needed; an entry is invalid as soon as the
    tensor is modified in place (optimizer step, ``load_state_dict``).
    """

    def __init__(self) -> None:
        self._entries: Dict[str, Tuple[int, int, Tuple[int, ...],
                                       torch.Tensor]] = {}

    def clear(self) -> None:
        """Drop every cached slice."""
        self._entries.clear()

    def get(self, name: str, tensor: torch.Tensor,
            sizes: Sequence[int]) -> torch.Tensor:
        """The slice ``tensor[:sizes[0], :sizes[1], ...]``.

        Args:
            name (str): Key of the tensor within the layer.
            tensor (Tensor): The full tensor.
            sizes (Sequence[int]): Leading sizes per dimension.

        Returns:
            Tensor: A contiguous tensor; differentiable w.r.t. ``tensor``
            when autograd needs it.
        """
        sizes = tuple(sizes)
        if torch.is_grad_enabled() and tensor.requires_grad:
            return LeadingSlice.apply(tensor, sizes)
        entry: Optional[Tuple[int, int, Tuple[int, ...],
                              torch.Tensor]] = self._entries.get(name)
        key = (tensor.data_ptr(), tensor._version, sizes)
        if entry is not None and entry[:3] == key:
            return entry[3]
        sliced = tensor.detach()[tuple(slice(0, s)
                                       for s in sizes)].contiguous()
        self._entries[name] = key + (sliced, )
        return sliced
