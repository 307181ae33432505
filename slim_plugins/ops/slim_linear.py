# Copyright (c) slim_plugins contributors. All rights reserved.
"""Slimmable fully connected layer (US-Nets / US3L / SlimCLR)."""
from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .slicing import SliceCache
from .width_state import SlimMixin


class SlimLinear(SlimMixin, nn.Linear):
    """``nn.Linear`` that runs with the leading slice of its features.

    At width ``w`` it uses ``weight[:c_out(w), :c_in(w)]``; by default only
    the input is sliced (the backbone ``fc`` of `Universally Slimmable
    Networks <https://arxiv.org/abs/1903.05134>`_: its input follows the
    backbone width, its output is fixed).

    Args:
        in_features (int): Input features at full width.
        out_features (int): Output features at full width.
        bias (bool): Whether to add a bias. Defaults to True.
        slim_in (bool): Slice the input features. Defaults to True.
        slim_out (bool): Slice the output features. Defaults to False.
        channel_rule (str): ``'divisible8'`` or ``'int'``. Defaults to
            ``'divisible8'``.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = True,
                 slim_in: bool = True,
                 slim_out: bool = False,
                 channel_rule: str = 'divisible8') -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.slim_in = slim_in
        self.slim_out = slim_out
        self._init_slim(channel_rule)
        self._slices = SliceCache()

    def active_features(self) -> Tuple[int, int]:
        """Active ``(out_features, in_features)`` at the current width."""
        c_out = self.active(self.out_features) if self.slim_out \
            else self.out_features
        c_in = self.active(self.in_features) if self.slim_in \
            else self.in_features
        return c_out, c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the active slice of the layer to ``x``."""
        c_out, c_in = self.active_features()
        if c_out == self.out_features and c_in == self.in_features:
            return super().forward(x)
        state = self.export_state()
        return F.linear(x, state['weight'], state.get('bias'))

    def export_state(self) -> Dict[str, torch.Tensor]:
        """Weight (and bias) of the equivalent ``nn.Linear`` at this width.

        Returns:
            dict[str, Tensor]: ``weight`` (and ``bias``), leading slices.
        """
        c_out, c_in = self.active_features()
        state = {
            'weight': self._slices.get('weight', self.weight, (c_out, c_in))
        }
        if self.bias is not None:
            state['bias'] = self._slices.view('bias', self.bias, c_out)
        return state

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, slim_in={self.slim_in}, '
                f'slim_out={self.slim_out}, '
                f'channel_rule={self.channel_rule!r}')
