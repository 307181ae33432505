# Copyright (c) slim_plugins contributors. All rights reserved.
"""Slimmable 2-D convolution (US-Nets / US3L / SlimCLR)."""
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .slicing import SliceCache
from .width_state import SlimMixin

_IntPair = Union[int, Tuple[int, int]]


class SlimConv2d(SlimMixin, nn.Conv2d):
    """``nn.Conv2d`` that runs with the leading slice of its channels.

    Implementation of the slimmable convolution of `Universally Slimmable
    Networks <https://arxiv.org/abs/1903.05134>`_: the full weight is stored,
    and at width ``w`` the layer uses ``weight[:c_out(w), :c_in(w)]``. At the
    full width the tensors are used as they are (no slicing, no copy).

    Args:
        in_channels (int): Input channels at full width.
        out_channels (int): Output channels at full width.
        kernel_size (int | tuple[int, int]): Kernel size.
        stride (int | tuple[int, int]): Stride. Defaults to 1.
        padding (int | tuple[int, int]): Zero padding. Defaults to 0.
        dilation (int | tuple[int, int]): Dilation. Defaults to 1.
        groups (int): 1, or ``in_channels == out_channels`` for a depthwise
            convolution whose active groups follow the active in-channels.
            Defaults to 1.
        bias (bool): Whether to add a bias. Defaults to True.
        slim_in (bool): Slice the input channels; False keeps them fixed
            (e.g. the RGB input of the stem). Defaults to True.
        slim_out (bool): Slice the output channels. Defaults to True.
        channel_rule (str): ``'divisible8'`` or ``'int'``, see
            :mod:`slim_plugins.ops.channels`. Defaults to ``'divisible8'``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: _IntPair,
                 stride: _IntPair = 1,
                 padding: _IntPair = 0,
                 dilation: _IntPair = 1,
                 groups: int = 1,
                 bias: bool = True,
                 slim_in: bool = True,
                 slim_out: bool = True,
                 channel_rule: str = 'divisible8') -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias)
        self.depthwise = groups > 1
        if self.depthwise and not (groups == in_channels == out_channels
                                   and slim_in == slim_out):
            raise ValueError(
                f'SlimConv2d supports groups=1 or depthwise convolutions '
                f'(groups == in_channels == out_channels, slim_in == '
                f'slim_out); got groups={groups}, in_channels={in_channels},'
                f' out_channels={out_channels}, slim_in={slim_in}, '
                f'slim_out={slim_out}.')
        self.slim_in = slim_in
        self.slim_out = slim_out
        self._init_slim(channel_rule)
        self._slices = SliceCache()
        self._plans: Dict[float, Tuple[int, int, Optional[Tuple[int, ...]],
                                       int]] = {}

    def active_channels(self) -> Tuple[int, int]:
        """Active ``(out_channels, in_channels)`` at the current width."""
        return self._plan()[:2]

    def _plan(self) -> Tuple[int, int, Optional[Tuple[int, ...]], int]:
        """``(c_out, c_in, weight slice sizes or None, groups)`` at the
        current width, cached per width: the forward runs once per layer
        and width, so its Python cost is paid per step."""
        width = self.width_state.width
        plan = self._plans.get(width)
        if plan is None:
            c_out = self.active(self.out_channels) if self.slim_out \
                else self.out_channels
            c_in = self.active(self.in_channels) if self.slim_in \
                else self.in_channels
            sizes = None
            if c_out != self.out_channels or c_in != self.in_channels:
                sizes = (c_out,
                         self.weight.shape[1] if self.depthwise else c_in,
                         *self.weight.shape[2:])
            plan = self._plans[width] = (c_out, c_in, sizes,
                                         c_out if self.depthwise else 1)
        return plan

    def _sliced(
        self,
        plan: Optional[Tuple[int, int, Optional[Tuple[int, ...]], int]] = None
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], int]:
        c_out, _, sizes, groups = self._plan() if plan is None else plan
        # The parameter dict, not attribute lookups (a Python call each):
        # the forward runs this per layer and step.
        params = self._parameters
        weight = params['weight']
        if sizes is not None:
            weight = self._slices.get('weight', weight, sizes)
        bias = params['bias']
        if bias is not None:
            bias = self._slices.view('bias', bias, c_out)
        return weight, bias, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` with the active slice of the weight."""
        plan = self._plan()
        if plan[2] is None:  # nothing sliced in the weight
            return super().forward(x)
        weight, bias, groups = self._sliced(plan)
        return F.conv2d(x, weight, bias, self.stride, self.padding,
                        self.dilation, groups)

    def export_state(self) -> Dict[str, torch.Tensor]:
        """Weight (and bias) of the equivalent ``nn.Conv2d`` at this width.

        Returns:
            dict[str, Tensor]: ``weight`` (and ``bias``), leading slices.
        """
        weight, bias, _ = self._sliced()
        state = {'weight': weight}
        if bias is not None:
            state['bias'] = bias
        return state

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, slim_in={self.slim_in}, '
                f'slim_out={self.slim_out}, '
                f'channel_rule={self.channel_rule!r}')
