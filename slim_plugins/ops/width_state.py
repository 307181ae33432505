# Copyright (c) slim_plugins contributors. All rights reserved.
"""The width state: the one place where the active width of a model lives.

A slimmable model holds one :class:`WidthState`; every slim op of the model
keeps a reference to it and reads ``width_state.width`` in its forward. The
width is changed only through :func:`set_width` / :func:`using_width`, which
validate it against what the model and its ops can run. There is no mutator,
no per-layer choice: to know the width of any layer, read the state.
"""
import math
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch.nn as nn

from .channels import get_channel_rule


def _same_width(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-6)


class WidthState:
    """The active width of a model and the widths it accepts.

    Args:
        width_range (tuple[float, float]): Closed interval of accepted widths
            (universal mode). Defaults to ``(0, 1)`` where 0 is excluded.
        widths (Sequence[float], optional): Fixed list of accepted widths
            (switchable mode); overrides ``width_range``. Defaults to None.
        owner (str): Name used in error messages. Defaults to ``'model'``.
    """

    def __init__(self,
                 width_range: Tuple[float, float] = (0.0, 1.0),
                 widths: Optional[Sequence[float]] = None,
                 owner: str = 'model') -> None:
        self.owner = owner
        self.widths = None if widths is None else tuple(
            float(w) for w in widths)
        self.width_range = (float(width_range[0]), float(width_range[1]))
        self.width = (
            max(self.widths) if self.widths else self.width_range[1])

    def check(self, width: float) -> float:
        """Validate ``width`` and return it as a float.

        Args:
            width (float): Candidate width.

        Returns:
            float: The width, exactly as it will be stored.
        """
        if isinstance(width, bool) or not isinstance(width, (int, float)):
            raise TypeError(f'width must be a number, got {width!r} '
                            f'({type(width).__name__}).')
        width = float(width)
        if not 0.0 < width <= 1.0:
            raise ValueError(f'width={width} is not allowed for {self.owner}:'
                             ' widths must lie in (0, 1].')
        if self.widths is not None:
            for allowed in self.widths:
                if _same_width(width, allowed):
                    return allowed
            raise ValueError(f'width={width} is not one of the switchable '
                             f'widths {list(self.widths)} of {self.owner}; '
                             'change `widths` in its config to add it.')
        low, high = self.width_range
        if not low - 1e-9 <= width <= high + 1e-9:
            raise ValueError(f'width={width} is outside width_range '
                             f'({low}, {high}) of {self.owner}; change '
                             '`width_range` in its config to allow it.')
        return width

    def __repr__(self) -> str:
        allowed = (f'widths={list(self.widths)}' if self.widths is not None
                   else f'width_range={self.width_range}')
        return f'WidthState(width={self.width}, {allowed})'


class SlimMixin:
    """Common part of the slim ops: the width state and the channel rule.

    A slim op stores its full-size tensors and, at forward time, uses the
    leading slice whose size the channel rule gives for the current width.
    Subclasses call :meth:`_init_slim` after the torch layer's ``__init__``.
    """

    width_state: WidthState
    channel_rule: str

    def _init_slim(self, channel_rule: str) -> None:
        self._rule = get_channel_rule(channel_rule)
        self.channel_rule = channel_rule
        # Until a model shares its state, each op carries its own.
        self.width_state = WidthState(owner=type(self).__name__)
        self._active_cache: Dict[Tuple[int, float], int] = {}

    def active(self, channels: int, width: Optional[float] = None) -> int:
        """Channels kept of a ``channels``-wide dimension at ``width``.

        Args:
            channels (int): Full size of the dimension.
            width (float, optional): Defaults to the current width.

        Returns:
            int: Active size of the dimension.
        """
        if width is None:
            width = self.width_state.width
        key = (channels, width)
        active = self._active_cache.get(key)
        if active is None:
            active = self._rule(channels, width)
            self._active_cache[key] = active
        return active

    def check_width(self, width: float) -> None:
        """Raise ValueError if this op cannot run at ``width``.

        Args:
            width (float): Candidate width (already range-checked).
        """

    def export_state(self) -> Dict[str, 'torch.Tensor']:  # noqa: F821
        """Tensors of the plain layer equivalent at the current width.

        Returns:
            dict[str, Tensor]: Same keys as the torch layer's state dict,
            each tensor the active leading slice.
        """
        raise NotImplementedError


def slim_ops(module: nn.Module) -> List[nn.Module]:
    """All slim ops in ``module`` (itself included), in module order.

    Args:
        module (nn.Module): Any module tree.

    Returns:
        list[nn.Module]: Modules that are :class:`SlimMixin` instances.
    """
    return [m for m in module.modules() if isinstance(m, SlimMixin)]


def _width_states(module: nn.Module) -> List[WidthState]:
    ops = slim_ops(module)
    if not ops:
        raise ValueError(f'{type(module).__name__} holds no slim ops, so it '
                         'has no width to set or read; build it from '
                         'slim_plugins.ops layers (e.g. a SlimResNet).')
    states: Dict[int, WidthState] = {}
    for op in ops:
        states.setdefault(id(op.width_state), op.width_state)
    return list(states.values())


def share_width_state(module: nn.Module,
                      state: Optional[WidthState] = None) -> WidthState:
    """Make every slim op in ``module`` read the same width state.

    Args:
        module (nn.Module): Module tree holding slim ops.
        state (WidthState, optional): The state to share. Defaults to a new
            one accepting any width in ``(0, 1]``.

    Returns:
        WidthState: The shared state.
    """
    if state is None:
        state = WidthState(owner=type(module).__name__)
    for op in slim_ops(module):
        op.width_state = state
    return state


def set_width(module: nn.Module, width: Union[int, float]) -> float:
    """Set the active width of every slim op in ``module``.

    The width is validated against every width state in the tree and every
    slim op (e.g. a switchable BN only runs the widths it has a BN for)
    before anything changes, so a rejected width leaves the model as it was.

    Args:
        module (nn.Module): Any module tree holding slim ops (a backbone,
            a classifier, an SSL algorithm...).
        width (float): Width multiplier in ``(0, 1]``.

    Returns:
        float: The width that was set.
    """
    states = _width_states(module)
    checked = [state.check(width) for state in states]
    for op in slim_ops(module):
        op.check_width(checked[0])
    for state, value in zip(states, checked):
        state.width = value
    return checked[0]


def get_width(module: nn.Module) -> float:
    """Return the active width of the slim ops in ``module``.

    Args:
        module (nn.Module): Any module tree holding slim ops.

    Returns:
        float: The active width.
    """
    widths = {state.width for state in _width_states(module)}
    if len(widths) > 1:
        raise ValueError(f'the slim ops of {type(module).__name__} are at '
                         f'different widths {sorted(widths)}; call '
                         'set_width(module, w) to align them.')
    return widths.pop()


@contextmanager
def using_width(module: nn.Module,
                width: Union[int, float]) -> Iterator[nn.Module]:
    """Run a block at ``width`` and restore the previous width afterwards.

    The previous width is restored also when the block raises.

    Args:
        module (nn.Module): Any module tree holding slim ops.
        width (float): Width multiplier in ``(0, 1]``.

    Yields:
        nn.Module: ``module`` itself.

    Example:
        >>> with using_width(backbone, 0.5):
        ...     feats = backbone(inputs)
    """
    previous = [(state, state.width) for state in _width_states(module)]
    set_width(module, width)
    try:
        yield module
    finally:
        for state, value in previous:
            state.width = value
