# Copyright (c) slim_plugins contributors. All rights reserved.
"""Leading slices of a parameter, and where their gradient goes.

``weight[:c_out, :c_in]`` through autograd chains two ``SliceBackward``
nodes, each allocating and zero-filling a gradient of its input's size, then
copying into it. :class:`LeadingSlice` does one allocation, one copy of the
active gradient and zeroes only the inactive part, and hands the layer a
contiguous weight.

That is still one pass over the *full* tensor per backward, however narrow
the width: at width 0.25 a ResNet writes 16x more gradient memory than it
computes. Inside :func:`in_place_slice_grads` (the multi-width train step
enables it), :class:`InPlaceGradSlice` instead adds the active gradient into
the parameter's ``.grad`` directly:

* if ``.grad`` exists (a wider width of the same step already wrote it), only
  its active block is touched;
* if it was set to None by ``zero_grad``, the layer's previous gradient
  buffer is reused when nothing else references it: only the part written
  since (the *dirty* block) is cleared.

The resulting ``.grad`` is exactly autograd's. What differs: autograd itself
does not see this gradient, so ``torch.autograd.grad`` on the parameter,
tensor hooks registered on it and DDP's gradient-ready hooks do not fire.
That is why the mode is opt-in and scoped, and the train step leaves it off
for any backward that DDP synchronises.

Without autograd (eval, calibration under ``no_grad``, export) the
contiguous copy is cached and reused until the parameter changes (keyed by
its storage and ``_version``).
"""
import contextlib
import contextvars
import sys
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch

_storage_use_count = getattr(torch._C, '_storage_Use_Count', None)
_IN_PLACE_GRADS = contextvars.ContextVar('slim_in_place_slice_grads',
                                         default=False)


@contextlib.contextmanager
def in_place_slice_grads(enabled: bool = True) -> Iterator[None]:
    """Write the gradients of sliced parameters straight into ``.grad``.

    The choice is made when a slim op runs its *forward*, so wrap the
    forward (the backward may run on autograd's worker threads).

    Args:
        enabled (bool): Turn the mode on (True) or off (False) inside the
            block. Defaults to True.

    Example:
        >>> with in_place_slice_grads():
        ...     loss = model(x).sum()
        >>> loss.backward()  # .grad equals autograd's, written in place
    """
    token = _IN_PLACE_GRADS.set(bool(enabled))
    try:
        yield
    finally:
        _IN_PLACE_GRADS.reset(token)


def in_place_slice_grads_enabled() -> bool:
    """Whether :func:`in_place_slice_grads` is active here."""
    return _IN_PLACE_GRADS.get()


def _block(sizes: Sequence[int]) -> Tuple[slice, ...]:
    return tuple(slice(0, s) for s in sizes)


def _zero_outside(tensor: torch.Tensor, box: Sequence[int],
                  keep: Sequence[int]) -> None:
    """Zero ``tensor[box]`` except its leading block ``keep``."""
    for dim in range(len(box)):
        if keep[dim] < box[dim]:
            index = _block(
                [min(k, b) for k, b in zip(keep[:dim], box[:dim])]) + (
                    slice(keep[dim], box[dim]), ) + _block(box[dim + 1:])
            tensor[index].zero_()


class LeadingSlice(torch.autograd.Function):
    """``tensor[:s0, :s1, ...]`` as a contiguous copy; full-size gradient."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor,
                sizes: Tuple[int, ...]) -> torch.Tensor:
        ctx.full_shape = tensor.shape
        ctx.sizes = sizes
        return tensor[_block(sizes)].contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> Tuple[torch.Tensor, None]:
        full = grad.new_empty(ctx.full_shape)
        full[_block(ctx.sizes)].copy_(grad)
        # The active block is written once; only the rest is zeroed.
        _zero_outside(full, tuple(ctx.full_shape), ctx.sizes)
        return full, None


class GradSlot:
    """The reusable ``.grad`` buffer of one sliced parameter.

    Attributes:
        buffer (Tensor | None): The last full-size gradient handed to the
            parameter.
        dirty (tuple[int, ...]): Leading block of ``buffer`` that may be
            non-zero; everything outside it is zero, unless ``buffer`` was
            modified by someone else since (its ``_version`` moved on).
    """

    def __init__(self) -> None:
        self.buffer: Optional[torch.Tensor] = None
        self.dirty: Tuple[int, ...] = ()
        self.version = -1

    def _reusable(self, param: torch.Tensor) -> bool:
        buffer = self.buffer
        if buffer is None or buffer.shape != param.shape or \
                buffer.dtype != param.dtype or \
                buffer.device != param.device:
            return False
        # References: ``self.buffer``, ``buffer`` and getrefcount's argument.
        # More means someone kept the old ``.grad``; a view of it shows up
        # in the storage count (ours plus the temporary storage object).
        # Without torch's private counter, never reuse: always correct.
        if _storage_use_count is None or sys.getrefcount(buffer) > 3:
            return False
        return _storage_use_count(buffer.untyped_storage()._cdata) <= 2

    def accumulate(self, param: torch.Tensor, sizes: Tuple[int, ...],
                   grad: torch.Tensor) -> None:
        """Add ``grad`` into ``param.grad[:sizes]``, creating ``.grad``.

        Args:
            param (Tensor): The full (leaf) parameter.
            sizes (tuple[int, ...]): Leading sizes of the active block.
            grad (Tensor): Gradient of the active block.
        """
        block = _block(sizes)
        current = param.grad
        if current is not None:
            current[block].add_(grad)
            if current is self.buffer:
                if current._version == self.version + 1:
                    self.dirty = tuple(map(max, self.dirty, sizes))
                else:  # modified in between (clipping, unscaling, ...)
                    self.dirty = tuple(current.shape)
                self.version = current._version
            return
        if self._reusable(param) and self.buffer._version == self.version:
            dirty = self.dirty
        else:
            self.buffer = torch.empty_like(
                param, memory_format=torch.contiguous_format)
            dirty = tuple(param.shape)
        buffer = self.buffer
        buffer[block].copy_(grad)
        _zero_outside(buffer, dirty, sizes)
        self.dirty = tuple(sizes)
        self.version = buffer._version
        param.grad = buffer


class InPlaceGradSlice(torch.autograd.Function):
    """``tensor[:s0, :s1, ...]``; the backward writes ``tensor.grad``."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, sizes: Tuple[int, ...],
                slot: GradSlot) -> torch.Tensor:
        ctx.param = tensor
        ctx.sizes = sizes
        ctx.slot = slot
        return tensor[_block(sizes)].contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> Tuple[None, None, None]:
        ctx.slot.accumulate(ctx.param, ctx.sizes, grad)
        return None, None, None


class SliceCache:
    """Contiguous leading slices of a layer's tensors.

    Without autograd the slices are cached until the tensor is modified in
    place (optimizer step, ``load_state_dict``). With autograd the slice is
    differentiable, through :class:`InPlaceGradSlice` inside
    :func:`in_place_slice_grads` and :class:`LeadingSlice` otherwise.

    Copies of a layer (``copy.deepcopy`` for an EMA teacher, pickling) start
    with an empty cache.
    """

    def __init__(self) -> None:
        self._entries: Dict[str, Tuple[int, int, Tuple[int, ...],
                                       torch.Tensor]] = {}
        self._grad_slots: Dict[str, GradSlot] = {}

    def clear(self) -> None:
        """Drop every cached slice and gradient buffer."""
        self._entries.clear()
        self._grad_slots.clear()

    def __deepcopy__(self, memo: dict) -> 'SliceCache':
        return SliceCache()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

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
            if tensor.is_leaf and _IN_PLACE_GRADS.get():
                slot = self._grad_slots.get(name)
                if slot is None:
                    slot = self._grad_slots[name] = GradSlot()
                return InPlaceGradSlice.apply(tensor, sizes, slot)
            return LeadingSlice.apply(tensor, sizes)
        entry: Optional[Tuple[int, int, Tuple[int, ...],
                              torch.Tensor]] = self._entries.get(name)
        key = (tensor.data_ptr(), tensor._version, sizes)
        if entry is not None and entry[:3] == key:
            return entry[3]
        sliced = tensor.detach()[_block(sizes)].contiguous()
        self._entries[name] = key + (sliced, )
        return sliced
