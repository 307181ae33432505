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
enables it), the active gradient is instead added into the parameter's
``.grad`` directly (:class:`LeafSlice`):

* if ``.grad`` exists (a wider width of the same step already wrote it),
  autograd's own accumulation adds into its active block, in place: the
  layer costs no Python call in the backward;
* if it was set to None by ``zero_grad``, the layer's previous gradient
  buffer is reused when nothing else references it: only the part written
  since (the *dirty* block) is cleared.

The resulting ``.grad`` is exactly autograd's. What differs: autograd itself
does not see the parameter take part, so ``torch.autograd.grad`` on the
parameter, tensor hooks registered on it and DDP's gradient-ready hooks do
not fire, and a backward with ``create_graph=True`` does not build the
graph of these gradients (their values are right). That is why the mode is
opt-in and scoped, and the train step leaves it off for any backward that
DDP synchronises.

Without autograd (eval, calibration under ``no_grad``, export) the
contiguous copy is cached and reused until the parameter changes (keyed by
its storage and ``_version``).
"""
import contextlib
import contextvars
import sys
import warnings
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch

_storage_use_count = getattr(torch._C, '_storage_Use_Count', None)
# Leaves kept per tensor; a universally slimmable layer meets up to C/8
# widths, a step uses a few.
MAX_CACHED_LEAVES = 16
_LAYOUT_HINT = 'grad and param do not obey the gradient layout contract'
_IN_PLACE_GRADS = contextvars.ContextVar('slim_in_place_slice_grads',
                                         default=False)


@contextlib.contextmanager
def in_place_slice_grads(enabled: bool = True) -> Iterator[None]:
    """Write the gradients of sliced parameters straight into ``.grad``.

    The choice is made when a slim op runs its *forward*, so wrap the
    forward (the backward may run on autograd's worker threads). Between
    that forward and its backward, do not replace the parameters' ``.grad``
    (e.g. ``zero_grad()``): the backward then raises rather than lose the
    gradient.

    Args:
        enabled (bool): Turn the mode on (True) or off (False) inside the
            block. Defaults to True.

    Example:
        >>> with in_place_slice_grads():
        ...     loss = model(x).sum()
        >>> with quiet_in_place_backward():
        ...     loss.backward()  # .grad equals autograd's, written in place
    """
    token = _IN_PLACE_GRADS.set(bool(enabled))
    try:
        yield
    finally:
        _IN_PLACE_GRADS.reset(token)


@contextlib.contextmanager
def quiet_in_place_backward() -> Iterator[None]:
    """Silence torch's layout hint about in-place slice gradients.

    Autograd adds a sliced parameter's gradient into a strided view of
    ``.grad`` on purpose (:class:`LeafSlice`); torch notes once per process
    that such a gradient "may impair performance". Wrap a backward of a
    forward run under :func:`in_place_slice_grads` in this to keep logs
    clean; other warnings pass.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message=_LAYOUT_HINT)
        yield


def in_place_slice_grads_enabled() -> bool:
    """Whether :func:`in_place_slice_grads` is active here."""
    return _IN_PLACE_GRADS.get()


def _block(sizes: Sequence[int],
           shape: Optional[Sequence[int]] = None) -> Tuple[slice, ...]:
    """Index of the leading block ``sizes``; uncut trailing dims of
    ``shape`` are left out (every index op costs a dispatch)."""
    last = len(sizes)
    if shape is not None:
        while last and sizes[last - 1] == shape[last - 1]:
            last -= 1
    return tuple(slice(0, s) for s in sizes[:last])


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
        return tensor[_block(sizes, tensor.shape)].contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> Tuple[torch.Tensor, None]:
        full = grad.new_empty(ctx.full_shape)
        full[_block(ctx.sizes, ctx.full_shape)].copy_(grad)
        # The active block is written once; only the rest is zeroed.
        _zero_outside(full, tuple(ctx.full_shape), ctx.sizes)
        return full, None


class GradSlot:
    """The reusable ``.grad`` buffer of one sliced parameter.

    A slot belongs to one storage of the parameter: when the parameter
    moves (``.to()``, ``.half()``) its slot is dropped with its leaves.

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

    def _reusable(self) -> bool:
        buffer = self.buffer
        # Modified by someone else since (clipping, unscaling, ...): what
        # ``dirty`` says may be wrong.
        if buffer is None or buffer._version != self.version:
            return False
        # References: ``self.buffer``, ``buffer`` and getrefcount's argument.
        # More means someone kept the old ``.grad``; a view of it shows up
        # in the storage count (ours plus the temporary storage object).
        # Without torch's private counter, never reuse: always correct.
        if _storage_use_count is None or sys.getrefcount(buffer) > 3:
            return False
        return _storage_use_count(buffer.untyped_storage()._cdata) <= 2

    def added(self, grad: torch.Tensor, sizes: Tuple[int, ...]) -> None:
        """Record that ``grad[:sizes]`` was just added to, in place.

        Args:
            grad (Tensor): The parameter's current ``.grad``.
            sizes (tuple[int, ...]): Leading sizes of the block written.
        """
        if grad is not self.buffer:
            return
        if grad._version == self.version + 1:
            self.dirty = tuple(map(max, self.dirty, sizes))
        else:  # modified in between (clipping, unscaling, ...)
            self.dirty = tuple(grad.shape)
        self.version = grad._version

    def accumulate(self,
                   param: torch.Tensor,
                   sizes: Tuple[int, ...],
                   grad: torch.Tensor,
                   block: Optional[Tuple[slice, ...]] = None) -> None:
        """Add ``grad`` into ``param.grad[:sizes]``, creating ``.grad``.

        Args:
            param (Tensor): The full (leaf) parameter of this slot.
            sizes (tuple[int, ...]): Leading sizes of the active block.
            grad (Tensor): Gradient of the active block.
            block (tuple[slice, ...], optional): ``_block(sizes,
                param.shape)``, when the caller has it at hand.
        """
        if block is None:
            block = _block(sizes, param.shape)
        current = param.grad
        if current is not None:
            current[block].add_(grad)
            self.added(current, sizes)
            return
        if self._reusable():
            self.buffer[block].copy_(grad)
            if self.dirty != sizes:
                _zero_outside(self.buffer, self.dirty, sizes)
        else:
            self.buffer = torch.empty_like(
                param, memory_format=torch.contiguous_format)
            self.buffer[block].copy_(grad)
            _zero_outside(self.buffer, tuple(param.shape), sizes)
        self.dirty = sizes
        buffer = self.buffer
        self.version = buffer._version
        param.grad = buffer


class LeafSlice:
    """The active block of a parameter as a leaf whose gradient is in-place.

    ``leaf`` is a view of ``param[:sizes]`` that autograd treats as a leaf,
    so its gradient is handled by autograd's own C++ accumulation, without a
    Python autograd function:

    * when ``param.grad`` exists at forward time, ``leaf.grad`` is pointed
      at its active block and autograd adds the new gradient there, in
      place (a first-order backward adds in place; see
      ``torch/csrc/autograd/functions/accumulate_grad.h``);
    * otherwise autograd hands the gradient to ``leaf.grad`` and a
      post-accumulate hook copies it into the reusable buffer of ``slot``.

    The hook also checks the first case afterwards: if ``param.grad`` was
    replaced between forward and backward it raises (the gradient went to
    the old tensor), and if autograd accumulated out of place (a backward
    with ``create_graph=True``) it copies the sum back.

    Args:
        param (Tensor): The full leaf parameter.
        sizes (tuple[int, ...]): Leading sizes of the active block.
        slot (GradSlot): The parameter's reusable gradient buffer.
    """

    def __init__(self, param: torch.Tensor, sizes: Tuple[int, ...],
                 slot: GradSlot) -> None:
        self.param = param
        self.sizes = sizes
        self.slot = slot
        self.block = _block(sizes, param.shape)
        self.data_ptr = param.data_ptr()
        leaf = param.detach()[self.block]
        leaf.requires_grad_()
        leaf.register_post_accumulate_grad_hook(self._after_accumulate)
        self.leaf = leaf
        self._target: Optional[Tuple[torch.Tensor, torch.Tensor]] = None

    def valid_for(self, param: torch.Tensor) -> bool:
        """Whether the leaf still views ``param``'s storage."""
        return param is self.param and param.data_ptr() == self.data_ptr

    def forward(self) -> torch.Tensor:
        """The active block, contiguous, differentiable through the leaf."""
        leaf = self.leaf
        grad = self.param.grad
        if grad is not None:
            view = grad[self.block]
            leaf.grad = view
            self._target = (grad, view)
        elif self._target is not None:
            leaf.grad = None
            self._target = None
        return leaf.contiguous()

    def _after_accumulate(self, leaf: torch.Tensor) -> None:
        grad = leaf.grad
        # Drop our references so that the buffer can be reused next step.
        leaf.grad = None
        if grad.requires_grad:  # a backward with create_graph=True
            grad = grad.detach()
        target = self._target
        if target is None:
            self.slot.accumulate(self.param, self.sizes, grad, self.block)
            return
        self._target = None
        base, view = target
        param = self.param
        if param.grad is not base:
            raise RuntimeError(
                f'the .grad of a sliced parameter of shape '
                f'{tuple(param.shape)} was replaced between the forward and '
                'the backward inside in_place_slice_grads(), so its gradient '
                'went to the old tensor; call zero_grad() before the '
                'forward, or leave in_place_slice_grads() off.')
        if grad is not view:  # accumulated out of place: grad = view + new
            view.copy_(grad)
        self.slot.added(base, self.sizes)


class SliceCache:
    """Contiguous leading slices of a layer's tensors.

    Without autograd the slices are cached until the tensor is modified in
    place (optimizer step, ``load_state_dict``). With autograd the slice is
    differentiable, through :class:`LeafSlice` inside
    :func:`in_place_slice_grads` and :class:`LeadingSlice` otherwise.

    Copies of a layer (``copy.deepcopy`` for an EMA teacher, pickling) start
    with an empty cache.
    """

    def __init__(self) -> None:
        self._entries: Dict[str, Tuple[int, int, Tuple[int, ...],
                                       torch.Tensor]] = {}
        self._grad_slots: Dict[str, GradSlot] = {}
        self._leaves: Dict[str, Dict[Tuple[int, ...], LeafSlice]] = {}

    def clear(self) -> None:
        """Drop every cached slice and gradient buffer."""
        self._entries.clear()
        self._grad_slots.clear()
        self._leaves.clear()

    def __deepcopy__(self, memo: dict) -> 'SliceCache':
        return SliceCache()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def _leaf(self, name: str, tensor: torch.Tensor,
              sizes: Tuple[int, ...]) -> LeafSlice:
        leaves = self._leaves.get(name)
        if leaves is not None:
            # Every leaf of ``name`` views the same storage: if the tensor
            # moved (``.to()``, ``.half()``), drop them all, or they would
            # keep the old storage alive, and the gradient buffer with them.
            some = next(iter(leaves.values()))
            if not some.valid_for(tensor):
                leaves = None
        if leaves is None:
            leaves = self._leaves[name] = {}
            self._grad_slots[name] = GradSlot()
        leaf = leaves.get(sizes)
        if leaf is None:
            if len(leaves) >= MAX_CACHED_LEAVES:  # universal mode: any width
                del leaves[next(iter(leaves))]
            leaf = leaves[sizes] = LeafSlice(tensor, sizes,
                                             self._grad_slots[name])
        return leaf

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
        if tensor.requires_grad and torch.is_grad_enabled():
            if _IN_PLACE_GRADS.get() and tensor.is_leaf:
                leaves = self._leaves.get(name)
                leaf = None if leaves is None else leaves.get(sizes)
                if leaf is None or not leaf.valid_for(tensor):
                    leaf = self._leaf(name, tensor, sizes)
                return leaf.forward()
            return LeadingSlice.apply(tensor, sizes)
        entry: Optional[Tuple[int, int, Tuple[int, ...],
                              torch.Tensor]] = self._entries.get(name)
        key = (tensor.data_ptr(), tensor._version, sizes)
        if entry is not None and entry[:3] == key:
            return entry[3]
        sliced = tensor.detach()[_block(sizes, tensor.shape)].contiguous()
        self._entries[name] = key + (sliced, )
        return sliced
