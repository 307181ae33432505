# Copyright (c) slim_plugins contributors. All rights reserved.
"""Leading slices of a parameter, and where their gradient goes.

``weight[:c_out, :c_in]`` through autograd chains two ``SliceBackward``
nodes, each allocating and zero-filling a gradient of its input's size, then
copying into it. :class:`LeadingSlice` does one allocation, one copy of the
active gradient and zeroes only the inactive part, and hands the layer a
contiguous weight.

That is still one pass over the *full* tensor per backward, and Python work
per layer in it. Inside :func:`in_place_slice_grads` (the multi-width train
step enables it) a sliced layer runs like a plain narrow one instead
(:class:`LeafSlice`):

* its active block is a contiguous *leaf* tensor of its own, refreshed from
  the parameter only when the parameter changed (an optimizer step);
* the backward is autograd's plain accumulation into that leaf, in C++,
  with no Python per layer;
* once the backward is over, one call (:class:`_InPlaceSession`) adds every
  leaf's gradient into the active block of its parameter's ``.grad``, with
  one batched (``_foreach``) kernel launch for all layers. If ``.grad`` is
  None (after ``zero_grad``), the layer's previous gradient buffer is reused
  when nothing else references it: only the part written since (the *dirty*
  block) is cleared.

The resulting ``.grad`` is exactly autograd's, and it is added into
whatever ``.grad`` is when the backward ends, as autograd would. What
differs: autograd itself does not see the parameter take part, so
``torch.autograd.grad`` on the parameter, tensor hooks registered on it and
DDP's gradient-ready hooks do not fire, and a backward with
``create_graph=True`` does not build the graph of these gradients (their
values are right). That is why the mode is opt-in and scoped, and the train
step leaves it off for any backward that DDP synchronises.

Without autograd (eval, calibration under ``no_grad``, export) the
contiguous copy is cached and reused until the parameter changes (keyed by
its storage and ``_version``).
"""
import contextlib
import contextvars
import sys
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.autograd import Variable

_storage_use_count = getattr(torch._C, '_storage_Use_Count', None)
# Leaves kept per tensor. Each holds a copy of its block, so few: a step
# runs a few widths; a universally slimmable layer meets many over training.
MAX_CACHED_LEAVES = 4
_SESSION: contextvars.ContextVar[Optional['_InPlaceSession']] = \
    contextvars.ContextVar('slim_in_place_slice_grads', default=None)


@contextlib.contextmanager
def in_place_slice_grads(enabled: bool = True) -> Iterator[None]:
    """Run sliced layers as plain narrow ones; gradients added into ``.grad``.

    The choice is made when a slim op runs its *forward*, so wrap the
    forward. The gradients reach the parameters' ``.grad`` when the backward
    of that forward is over, in one batched update.

    The update is triggered by the first sliced layer that the block ran:
    a backward must reach it (any loss of the model's output does). If a
    backward reached other sliced layers only, their gradients would stay
    in their leaves; the next forward through them raises rather than lose
    them.

    Args:
        enabled (bool): Turn the mode on (True) or off (False) inside the
            block. Defaults to True.

    Example:
        >>> with in_place_slice_grads():
        ...     loss = model(x).sum()
        >>> loss.backward()  # .grad equals autograd's
    """
    token = _SESSION.set(_InPlaceSession() if enabled else None)
    try:
        yield
    finally:
        _SESSION.reset(token)


def in_place_slice_grads_enabled() -> bool:
    """Whether :func:`in_place_slice_grads` is active here."""
    return _SESSION.get() is not None


def _block(sizes: Sequence[int],
           shape: Optional[Sequence[int]] = None) -> Tuple[slice, ...]:
    """Index of the leading block ``sizes``; uncut trailing dims of
    ``shape`` are left out (every index op costs a dispatch)."""
    last = len(sizes)
    if shape is not None:
        while last and sizes[last - 1] == shape[last - 1]:
            last -= 1
    return tuple(slice(0, s) for s in sizes[:last])


def _leading(tensor: torch.Tensor, sizes: Tuple[int, ...]) -> torch.Tensor:
    """The view ``tensor[:sizes[0], :sizes[1], ...]`` in one dispatch."""
    return tensor.as_strided(sizes, tensor.stride(), tensor.storage_offset())


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
            non-zero; everything outside it is zero, as long as nobody but
            the recorded writes changed ``buffer`` (its ``_version`` is
            ``version``).
        version (int): ``buffer._version`` once the recorded writes ran.
        pending (int): Writes queued by the running flush that
            :meth:`settle` has not recorded yet.
    """

    __slots__ = ('buffer', 'dirty', 'version', 'pending', '_storage',
                 '_alias', '_blocks')

    def __init__(self) -> None:
        self.buffer: Optional[torch.Tensor] = None
        self.dirty: Tuple[int, ...] = ()
        self.version = -1
        self.pending = 0
        # Kept so that counting the storage's users costs no new object.
        self._storage: Optional[torch.UntypedStorage] = None
        # Views of ``buffer``'s leading blocks: a flush writes through them
        # every step, and building a view is a dispatch per layer. They are
        # views of a detached alias (same storage, same version counter):
        # a view of ``buffer`` itself would hold a reference to it, which
        # the check for users who kept the old ``.grad`` would count.
        self._alias: Optional[torch.Tensor] = None
        self._blocks: Dict[Tuple[int, ...], torch.Tensor] = {}

    def _reusable(self) -> bool:
        buffer = self.buffer
        # Modified by someone else (clipping, unscaling, a full-width
        # backward): what ``dirty`` says may be wrong.
        if buffer is None or buffer._version != self.version:
            return False
        # References: ``self.buffer``, ``buffer`` and getrefcount's argument.
        # More means someone kept the old ``.grad``; a view of it shows up
        # in the storage count (``buffer``, ``_storage``, ``_alias`` and
        # our blocks). Without torch's private counter, never reuse: always
        # correct.
        if _storage_use_count is None or sys.getrefcount(buffer) > 3:
            return False
        return _storage_use_count(
            self._storage._cdata) <= 3 + len(self._blocks)

    def block(self, sizes: Tuple[int, ...]) -> torch.Tensor:
        """The view ``buffer[:sizes[0], :sizes[1], ...]``, cached.

        Args:
            sizes (tuple[int, ...]): Leading sizes of the block.

        Returns:
            Tensor: A view of ``buffer``.
        """
        view = self._blocks.get(sizes)
        if view is None:
            if len(self._blocks) >= MAX_CACHED_LEAVES:
                self._blocks.clear()
            view = self._blocks[sizes] = _leading(self._alias, sizes)
        return view

    def install(self, param: torch.Tensor,
                sizes: Tuple[int, ...]) -> torch.Tensor:
        """Give ``param`` a ``.grad`` that is zero outside ``[:sizes]``.

        The block itself is left as it is, for the caller to overwrite. The
        previous buffer is reused if nobody else holds it.

        Args:
            param (Tensor): The full (leaf) parameter of this slot.
            sizes (tuple[int, ...]): Leading sizes of the block written next.

        Returns:
            Tensor: The block ``param.grad[:sizes]``, a view.
        """
        if self._reusable():
            buffer = self.buffer
            if self.dirty != sizes:
                _zero_outside(buffer, self.dirty, sizes)
        else:
            buffer = self.buffer = torch.empty_like(
                param, memory_format=torch.contiguous_format)
            self._storage = buffer.untyped_storage()
            self._alias = buffer.detach()
            self._blocks = {}
            _zero_outside(buffer, tuple(param.shape), sizes)
        self.dirty = sizes
        self.version = buffer._version
        param.grad = buffer
        return self.block(sizes)

    def settle(self) -> None:
        """Record the :attr:`pending` writes into ``buffer`` as run.

        If ``buffer`` moved on by anything else than them, it was written
        by someone else too: any part of it may be non-zero.
        """
        version = self.buffer._version
        if version != self.version + self.pending:
            self.dirty = tuple(self.buffer.shape)
        self.version = version
        self.pending = 0


class _InPlaceSession:
    """The in-place leaves of one :func:`in_place_slice_grads` block.

    The first leaf arms a hook on its node of the graph; when a backward
    reaches it, :meth:`flush` is queued to run once that backward is over,
    when every leaf has received its gradient. The session lives as long
    as the graph, so a forward that is never backpropagated leaves nothing
    behind.
    """

    __slots__ = ('leaves', )

    def __init__(self) -> None:
        self.leaves: List['LeafSlice'] = []

    def arm(self, leaf: torch.Tensor) -> torch.Tensor:
        """Hook the flush on the graph node of the block's first leaf.

        Args:
            leaf (Tensor): The first leaf run in this block.

        Returns:
            Tensor: A view of ``leaf`` whose node carries the hook, for the
            layer to use instead of the leaf.
        """
        out = leaf.view_as(leaf)
        out.grad_fn.register_hook(self._queue_flush)
        return out

    def _queue_flush(self, grad_inputs, grad_outputs) -> None:
        Variable._execution_engine.queue_callback(self.flush)

    def flush(self) -> None:
        """Add the leaves' gradients into their parameters' ``.grad``."""
        copy_to, copy_from, add_to, add_from = [], [], [], []
        touched: List[GradSlot] = []
        for leaf_slice in self.leaves:
            leaf = leaf_slice.leaf
            grad = leaf.grad
            if grad is None:  # flushed already (used twice), or not reached
                continue
            leaf.grad = None
            if grad.requires_grad:  # a backward with create_graph=True
                grad = grad.detach()
            slot, sizes = leaf_slice.slot, leaf_slice.sizes
            target = leaf_slice.param.grad
            if target is None:
                copy_to.append(slot.install(leaf_slice.param, sizes))
                copy_from.append(grad)
            elif target is slot.buffer:
                add_to.append(slot.block(sizes))
                add_from.append(grad)
                if sizes != slot.dirty:
                    slot.dirty = tuple(map(max, slot.dirty, sizes))
            else:  # not ours: nothing to keep track of
                add_to.append(_leading(target, sizes))
                add_from.append(grad)
                continue
            if not slot.pending:
                touched.append(slot)
            slot.pending += 1
        try:
            # Copies first: a later leaf of the same parameter adds onto
            # them.
            if copy_to:
                torch._foreach_copy_(copy_to, copy_from)
            if add_to:
                torch._foreach_add_(add_to, add_from)
        finally:
            for slot in touched:
                slot.settle()


class LeafSlice:
    """The active block of a parameter as a leaf of its own.

    ``leaf`` is a contiguous copy of ``param[:sizes]``, refreshed when the
    parameter changed (its ``_version`` moved on), that autograd treats as
    an ordinary leaf: the layer runs exactly as a plain narrow layer, and
    its gradient is accumulated by autograd in C++. The enclosing
    :class:`_InPlaceSession` moves it into ``param.grad`` after the
    backward.

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
        self.data_ptr = param.data_ptr()
        self.source = param.detach()[_block(sizes, param.shape)]
        self.leaf = self.source.clone(
            memory_format=torch.contiguous_format).requires_grad_()
        # Writing the leaf's values must not be an autograd operation.
        self._values = self.leaf.detach()
        self._copied_version = param._version

    def valid_for(self, param: torch.Tensor) -> bool:
        """Whether the leaf still copies ``param``'s storage."""
        return param is self.param and param.data_ptr() == self.data_ptr

    def forward(self, session: _InPlaceSession) -> torch.Tensor:
        """The active block as a leaf, up to date with the parameter.

        Args:
            session (_InPlaceSession): The enclosing in-place block.

        Returns:
            Tensor: The block, contiguous.
        """
        if self.leaf.grad is not None:
            raise RuntimeError(
                f'a sliced parameter of shape {tuple(self.param.shape)} '
                f'still holds the gradient of its block {self.sizes} from '
                'an earlier backward that did not reach the first sliced '
                'layer of its in_place_slice_grads() block, so it was never '
                "added into the parameter's .grad; backpropagate through "
                'the whole forward, or leave in_place_slice_grads() off.')
        version = self.param._version
        if version != self._copied_version:
            self._values.copy_(self.source)
            self._copied_version = version
        leaves = session.leaves
        leaves.append(self)
        return self.leaf if len(leaves) > 1 else session.arm(self.leaf)


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
        leaf = None
        if leaves is not None:
            leaf = leaves.pop(sizes, None)
            # Every leaf of ``name`` copies the same storage: if the tensor
            # moved (``.to()``, ``.half()``), drop them all, or they would
            # keep the old storage alive, and the gradient buffer with them.
            some = leaf or next(iter(leaves.values()), None)
            if some is None or not some.valid_for(tensor):
                leaves = leaf = None
        if leaves is None:
            leaves = self._leaves[name] = {}
            self._grad_slots[name] = GradSlot()
        if leaf is None:
            if len(leaves) >= MAX_CACHED_LEAVES:  # universal mode: any width
                del leaves[next(iter(leaves))]  # the least recently used
            leaf = LeafSlice(tensor, sizes, self._grad_slots[name])
        leaves[sizes] = leaf  # now the most recently used
        return leaf

    def _in_place(self, name: str, tensor: torch.Tensor,
                  sizes: Tuple[int, ...]) -> Optional[torch.Tensor]:
        """The block as a leaf of the enclosing :func:`in_place_slice_grads`
        block, or None where that mode does not apply (off, no autograd, or
        ``tensor`` not a leaf)."""
        session = _SESSION.get()
        if session is None or not (tensor.requires_grad
                                   and torch.is_grad_enabled()):
            return None
        # First the leaf of the last forward (the most recently used, so the
        # last of ``_leaves``), checked as ``_leaf`` would: this runs per
        # layer and step.
        leaves = self._leaves.get(name)
        leaf = None if leaves is None else next(reversed(leaves.values()),
                                                None)
        if leaf is None or leaf.sizes != sizes or \
                not leaf.valid_for(tensor):
            if not tensor.is_leaf:
                return None
            leaf = self._leaf(name, tensor, sizes)
        return leaf.forward(session)

    def view(self, name: str, tensor: torch.Tensor,
             size: int) -> torch.Tensor:
        """The leading slice ``tensor[:size]`` of a 1-d tensor, as a view.

        A leading slice of a contiguous vector is contiguous, so nothing is
        copied. Inside :func:`in_place_slice_grads` its gradient is added
        in place, as for :meth:`get`.

        Args:
            name (str): Key of the tensor within the layer.
            tensor (Tensor): The full 1-d tensor (a bias, a BN scale...).
            size (int): Leading size kept.

        Returns:
            Tensor: ``tensor[:size]``, or ``tensor`` itself if uncut.
        """
        if size == tensor.shape[0]:
            return tensor
        leaf = self._in_place(name, tensor, (size, ))
        return tensor[:size] if leaf is None else leaf

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
            leaf = self._in_place(name, tensor, sizes)
            return LeadingSlice.apply(tensor, sizes) if leaf is None else leaf
        entry: Optional[Tuple[int, int, Tuple[int, ...],
                              torch.Tensor]] = self._entries.get(name)
        key = (tensor.data_ptr(), tensor._version, sizes)
        if entry is not None and entry[:3] == key:
            return entry[3]
        sliced = tensor.detach()[_block(sizes, tensor.shape)].contiguous()
        self._entries[name] = key + (sliced, )
        return sliced
