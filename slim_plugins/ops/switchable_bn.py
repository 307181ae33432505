# Copyright (c) slim_plugins contributors. All rights reserved.
"""Switchable batch normalisation: a private BN per width (SlimCLR, S-Nets).

State-dict layout: the BN of the *largest* width is the layer itself, so its
tensors sit at the plain keys (``bn1.weight``, ``bn1.running_mean``...), and
the BN of every other width ``w`` is a child under
``switch_bns.<w with '.' -> '_'>`` (``bn1.switch_bns.0_75.weight``). A
switchable network at its largest width therefore has the key layout of the
plain network, and a plain checkpoint (e.g. mmpretrain's ``ResNet``) loads
into it: it fills the largest width's BN and leaves the other widths' BNs as
they are (they are not reported as missing).
"""
import math
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from .slim_bn import _SlimBatchNormMixin


def width_key(width: float) -> str:
    """Module name of a width's BN, e.g. ``0.75 -> '0_75'``.

    Args:
        width (float): A width.

    Returns:
        str: A name without dots, usable in a ``nn.ModuleDict``.
    """
    return f'{width:g}'.replace('.', '_')


class _SwitchableBatchNormMixin(_SlimBatchNormMixin):
    """Private BN per width; the largest width's BN is ``self``."""

    _bn_cls: type

    def _init_switch(self, widths: Sequence[float], **bn_kwargs: Any) -> None:
        ordered = sorted({float(w) for w in widths}, reverse=True)
        if not widths or len(ordered) != len(widths) or not all(
                0.0 < w <= 1.0 for w in ordered):
            raise ValueError(f'widths={list(widths)} must be distinct '
                             'numbers in (0, 1]; set `widths` in the config.')
        self.widths: List[float] = ordered
        self.switch_bns = nn.ModuleDict({
            width_key(w): self._bn_cls(
                self.active(self.num_features, w), **bn_kwargs)
            for w in ordered[1:]
        })
        # Names, not modules: a cached module would outlive copies/replicas.
        self._key_by_width: Dict[float, Optional[str]] = {}

    def _bn_for(self, width: float) -> Optional[nn.Module]:
        """The private BN of ``width``; None means ``self`` (largest)."""
        if width not in self._key_by_width:
            for allowed in self.widths:
                if math.isclose(width, allowed, abs_tol=1e-6):
                    self._key_by_width[width] = (
                        None if allowed == self.widths[0] else
                        width_key(allowed))
                    break
        if width in self._key_by_width:
            key = self._key_by_width[width]
            return None if key is None else self.switch_bns[key]
        raise ValueError(f'width={width} has no BN in {type(self).__name__} '
                         f'(widths={self.widths}); change `widths` in the '
                         'config to add it.')

    def check_width(self, width: float) -> None:
        """Raise ValueError unless ``width`` has a private BN."""
        self._bn_for(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with the BN of the current width."""
        bn = self._bn_for(self.width_state.width)
        if bn is None:
            return super().forward(x)
        return bn(x)

    def export_state(self) -> Dict[str, torch.Tensor]:
        """State of the current width's BN (sliced if it is ``self``).

        Returns:
            dict[str, Tensor]: The keys of a plain BN.
        """
        bn = self._bn_for(self.width_state.width)
        if bn is None:
            return super().export_state()
        return dict(bn.state_dict(keep_vars=True))

    def _load_from_state_dict(self, state_dict: Dict[str, torch.Tensor],
                              prefix: str, *args: Any, **kwargs: Any) -> None:
        sub_prefix = prefix + 'switch_bns.'
        if not any(key.startswith(sub_prefix) for key in state_dict):
            # A plain-BN checkpoint: it only fills the largest width's BN;
            # the other widths keep their current state instead of being
            # reported missing.
            for key, value in self.switch_bns.state_dict(
                    prefix=sub_prefix).items():
                state_dict[key] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, widths={self.widths}'


class SwitchableBatchNorm2d(_SwitchableBatchNormMixin, nn.BatchNorm2d):
    """A private ``nn.BatchNorm2d`` per width of a fixed list.

    Implementation of the switchable BN of `Slimmable Neural Networks
    <https://arxiv.org/abs/1812.08928>`_ as used by `SlimCLR
    <https://arxiv.org/abs/2209.15525>`_. The BN of ``max(widths)`` is this
    layer (plain state-dict keys); the others live in ``switch_bns``.

    Args:
        num_features (int): Channels at full width.
        widths (Sequence[float]): The widths, e.g. ``[1.0, 0.75, 0.5, 0.25]``.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-stat momentum. Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): Track running statistics. Defaults to
            True.
        channel_rule (str): ``'divisible8'`` or ``'int'`` (SlimCLR).
            Defaults to ``'divisible8'``.
    """

    _bn_cls = nn.BatchNorm2d

    def __init__(self,
                 num_features: int,
                 widths: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 channel_rule: str = 'divisible8') -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self._init_slim(channel_rule)
        self._init_switch(
            widths,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats)


class SwitchableBatchNorm1d(_SwitchableBatchNormMixin, nn.BatchNorm1d):
    """A private ``nn.BatchNorm1d`` per width of a fixed list.

    Same layout as :class:`SwitchableBatchNorm2d` (SlimCLR's projector and
    predictor BNs).

    Args:
        num_features (int): Features at full width.
        widths (Sequence[float]): The widths, e.g. ``[1.0, 0.75, 0.5, 0.25]``.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-stat momentum. Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): Track running statistics. Defaults to
            True.
        channel_rule (str): ``'divisible8'`` or ``'int'``. Defaults to
            ``'divisible8'``.
    """

    _bn_cls = nn.BatchNorm1d

    def __init__(self,
                 num_features: int,
                 widths: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 channel_rule: str = 'divisible8') -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self._init_slim(channel_rule)
        self._init_switch(
            widths,
            eps=eps,
            momentum=momentum,
            affine=affine,
            track_running_stats=track_running_stats)
