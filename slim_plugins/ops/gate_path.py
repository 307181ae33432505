# Copyright (c) slim_plugins contributors. All rights reserved.
"""The gate path: which of a gated network's two paths runs.

A gated network (e.g. :class:`~slim_plugins.models.backbones.GatedResNet`)
runs the same weights two ways: ``'dense'`` (every channel) and ``'gated'``
(each block's channel gate masks its intermediate channels). Like a width,
the path is model state, not a forward argument: every gated module holds a
reference to one :class:`GatePathState` and reads ``state.path`` in its
forward; :func:`set_gate_path` / :func:`using_gate_path` change it for a
whole model tree.
"""
from contextlib import contextmanager
from typing import Iterator, List

import torch.nn as nn

GATE_PATHS = ('dense', 'gated')


def check_gate_path(path: str, owner: str = 'model') -> str:
    """Return ``path`` if it is one of :data:`GATE_PATHS`, else raise."""
    if path not in GATE_PATHS:
        raise ValueError(f'gate path {path!r} is not allowed for {owner}; '
                         f'choose one of {GATE_PATHS}.')
    return path


class GatePathState:
    """The active path of a gated model.

    Args:
        path (str): ``'dense'`` or ``'gated'``. Defaults to ``'dense'``.
    """

    def __init__(self, path: str = 'dense') -> None:
        self.path = check_gate_path(path, 'GatePathState')

    def __repr__(self) -> str:
        return f'GatePathState(path={self.path!r})'


class GatedMixin:
    """Marks a module whose forward depends on the gate path.

    Subclasses call :meth:`_init_gate_path` in ``__init__``; a model shares
    one state among its gated modules with :func:`share_gate_path`.
    """

    gate_path_state: GatePathState

    def _init_gate_path(self) -> None:
        self.gate_path_state = GatePathState()

    @property
    def gate_path(self) -> str:
        return self.gate_path_state.path


def gated_modules(module: nn.Module) -> List[nn.Module]:
    """All :class:`GatedMixin` modules in ``module`` (itself included)."""
    return [m for m in module.modules() if isinstance(m, GatedMixin)]


def _states(module: nn.Module) -> List[GatePathState]:
    found = gated_modules(module)
    if not found:
        raise ValueError(f'{type(module).__name__} holds no gated modules, '
                         f'so it has no gate path to set or read; use a '
                         f'gated backbone (e.g. GatedResNet).')
    states = {}
    for m in found:
        states.setdefault(id(m.gate_path_state), m.gate_path_state)
    return list(states.values())


def share_gate_path(module: nn.Module) -> GatePathState:
    """Make every gated module in ``module`` read one new state."""
    state = GatePathState()
    for m in gated_modules(module):
        m.gate_path_state = state
    return state


def get_gate_path(module: nn.Module) -> str:
    """The path of ``module``'s gated modules (they must agree)."""
    paths = {state.path for state in _states(module)}
    if len(paths) != 1:
        raise RuntimeError(f'the gated modules of {type(module).__name__} '
                           f'are on different paths {sorted(paths)}; set '
                           f'one with set_gate_path.')
    return paths.pop()


def set_gate_path(module: nn.Module, path: str) -> str:
    """Set the path of every gated module in ``module``.

    Args:
        module (nn.Module): Any tree holding gated modules.
        path (str): ``'dense'`` or ``'gated'``.

    Returns:
        str: The path.
    """
    check_gate_path(path, type(module).__name__)
    for state in _states(module):
        state.path = path
    return path


@contextmanager
def using_gate_path(module: nn.Module, path: str) -> Iterator[None]:
    """Run the block on ``path``; the previous path is restored after."""
    check_gate_path(path, type(module).__name__)
    previous = [(state, state.path) for state in _states(module)]
    set_gate_path(module, path)
    try:
        yield
    finally:
        for state, old in previous:
            state.path = old
