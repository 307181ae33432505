# Copyright (c) slim_plugins contributors. All rights reserved.
"""Shared slimmable batch normalisation (US-Nets / US3L)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .slicing import SliceCache
from .width_state import SlimMixin

# What F.batch_norm passes to the op; the public flag is a property.
_cudnn_enabled = torch._C._get_cudnn_enabled


class _SlimBatchNormMixin(SlimMixin):
    """One BN shared by all widths, sliced to the active channels.

    ``weight``/``bias`` and, when tracked, ``running_mean``/``running_var``
    are used through leading-slice views, so the statistics a width collects
    land in the shared buffers. With ``track_running_stats=False`` (US3L
    pre-training) the batch statistics are used in train and eval mode.
    """

    num_features: int

    def _init_slim(self, channel_rule: str) -> None:
        super()._init_slim(channel_rule)
        self._slices = SliceCache()

    def active_features(self) -> int:
        """Active features at the current width."""
        return self.active(self.num_features)

    def _sliced_state(self, channels: int) -> Dict[str, torch.Tensor]:
        state = {}
        if self.affine:
            state['weight'] = self.weight[:channels]
            state['bias'] = self.bias[:channels]
        if self.track_running_stats:
            state['running_mean'], state['running_var'] = \
                self._sliced_stats(channels)
            state['num_batches_tracked'] = self.num_batches_tracked
        return state

    def _sliced_stats(self, channels: int) -> Tuple[Tensor, Tensor]:
        """Views of the running statistics' first ``channels``, cached.

        A view follows in-place updates (``load_state_dict``, BN's own
        momentum update); it is rebuilt when a buffer is replaced (``.to()``,
        assignment, ``.data =``).
        """
        buffers = self._buffers
        mean, var = buffers['running_mean'], buffers['running_var']
        cached = self.__dict__.get('_stat_views')
        if cached is not None and cached[0] == channels and \
                cached[1]._base is mean and cached[2]._base is var and \
                cached[3] == (mean.data_ptr(), var.data_ptr()):
            return cached[1], cached[2]
        views = (mean[:channels], var[:channels])
        self.__dict__['_stat_views'] = (channels, *views,
                                        (mean.data_ptr(), var.data_ptr()))
        return views

    def __getstate__(self) -> dict:
        # Copies (deepcopy, pickling) rebuild the views of their own buffers.
        state = super().__getstate__()
        state.pop('_stat_views', None)
        return state

    def _slim_forward(self, x: Tensor, channels: int) -> Tensor:
        # torch's _BatchNorm.forward and F.batch_norm on the sliced tensors,
        # calling the op directly: their Python (module attribute lookups,
        # torch-function checks) is a cost per layer and step that the
        # narrow network pays too, and slicing must not add to it.
        self._check_input_dim(x)
        momentum = self.momentum
        tracked = self.track_running_stats
        batch_stats = self.training or not tracked
        if self.training and tracked:
            count = self._buffers['num_batches_tracked']
            count.add_(1)
            if momentum is None:
                momentum = 1.0 / float(count)
        if momentum is None:
            momentum = 0.0
        mean = var = None
        # Eval mode without tracked statistics normalises with the batch's.
        if tracked:
            mean, var = self._sliced_stats(channels)
        weight = bias = None
        if self.affine:
            params = self._parameters
            weight = self._slices.view('weight', params['weight'], channels)
            bias = self._slices.view('bias', params['bias'], channels)
        if batch_stats and x.numel() == x.shape[1]:
            raise ValueError('Expected more than 1 value per channel when '
                             f'training, got input size {x.size()}')
        return torch.batch_norm(x, weight, bias, mean, var, batch_stats,
                                momentum, self.eps, _cudnn_enabled())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with the active slice of the BN."""
        channels = self.active_features()
        if channels == self.num_features:
            return super().forward(x)
        return self._slim_forward(x, channels)

    def export_state(self) -> Dict[str, torch.Tensor]:
        """State of the equivalent plain BN at the current width.

        Returns:
            dict[str, Tensor]: Leading slices of the affine parameters and,
            when tracked, of the running statistics.
        """
        return self._sliced_state(self.active_features())

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, channel_rule={self.channel_rule!r}'


class SlimBatchNorm2d(_SlimBatchNormMixin, nn.BatchNorm2d):
    """Universally slimmable ``nn.BatchNorm2d`` (one BN for all widths).

    Implementation of the shared BN of `Universally Slimmable Networks
    <https://arxiv.org/abs/1903.05134>`_ as used by `US3L
    <https://arxiv.org/abs/2303.06870>`_.

    Args:
        num_features (int): Channels at full width.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-stat momentum; None for a
            cumulative average. Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): False normalises with batch statistics
            in train and eval mode (US3L pre-training). Defaults to True.
        channel_rule (str): ``'divisible8'`` or ``'int'``. Defaults to
            ``'divisible8'``.
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 channel_rule: str = 'divisible8') -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self._init_slim(channel_rule)


class SlimBatchNorm1d(_SlimBatchNormMixin, nn.BatchNorm1d):
    """Universally slimmable ``nn.BatchNorm1d`` (one BN for all widths).

    Args:
        num_features (int): Features at full width.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-stat momentum; None for a
            cumulative average. Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): False normalises with batch statistics
            in train and eval mode. Defaults to True.
        channel_rule (str): ``'divisible8'`` or ``'int'``. Defaults to
            ``'divisible8'``.
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 channel_rule: str = 'divisible8') -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self._init_slim(channel_rule)
