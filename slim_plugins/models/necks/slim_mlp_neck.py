# Copyright (c) slim_plugins contributors. All rights reserved.
"""Slimmable MLP neck: projectors and predictors of slimmable SSL methods."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from slim_plugins.ops import (SlimBatchNorm1d, SlimLinear,
                              SwitchableBatchNorm1d, WidthState,
                              get_channel_rule, share_width_state)
from slim_plugins.registry import MODELS

NORMS = ('none', 'bn', 'switchable')
WIDTH_MODES = ('universal', 'switchable')


class FullSwitchableBatchNorm1d(SwitchableBatchNorm1d):
    """A private full-size ``BatchNorm1d`` per width.

    The features of this layer do not shrink with the width (e.g. the fixed
    256-d output of SlimCLR's MoCoV3 projector), but each width still has its
    own statistics and affine parameters. Same state-dict layout as
    :class:`~slim_plugins.ops.SwitchableBatchNorm1d`: the largest width's BN
    at the plain keys, the others under ``switch_bns.<w>``.
    """

    def active(self, channels: int, width: Optional[float] = None) -> int:
        """Every feature is active at every width."""
        return channels


@MODELS.register_module()
class SlimMLPNeck(BaseModule):
    """MLP projector / predictor whose hidden width follows the network's.

    The slimmable heads of `SlimCLR <https://arxiv.org/abs/2209.15525>`_
    (switchable BN, hidden width ``int(C * w)``) and `US3L
    <https://arxiv.org/abs/2303.06870>`_ (input sliced to the backbone's
    active channels, fixed hidden width) in one module. Layers, named as in
    mmpretrain's ``NonLinearNeck`` (``fc0, bn0, fc1, ...``)::

        fc0 -> [bn0] -> ReLU -> ... -> fc{L-1} -> [bn{L-1}]

    The input of ``fc0`` is sliced to the active features when ``slim_in``;
    every hidden dimension (and its BN) when ``slim_hidden``; the output is
    always ``out_channels``. The neck owns one
    :class:`~slim_plugins.ops.WidthState` shared by its slim ops, so
    ``using_width(neck, w)`` (or the multi-width train step) sets its width.

    Reference heads (``w``: width multiplier; ``2048w`` means the active part
    of a 2048-wide dimension):

    - SlimCLR MoCoV2 projector, 2048w -> 2048w -> 128, bias, no BN::

        SlimMLPNeck(2048, 2048, 128, norm='none', width_mode='switchable',
                    channel_rule='int')

    - SlimCLR MoCoV3 projector, 2048w -> 4096w -> SwitchableBN -> ReLU ->
      256 -> SwitchableBN(affine=False), no bias::

        SlimMLPNeck(2048, 4096, 256, with_bias=False, norm='switchable',
                    with_last_bn=True, with_last_bn_affine=False,
                    width_mode='switchable', channel_rule='int')

    - SlimCLR MoCoV3 predictor, 256 -> 4096w -> SwitchableBN -> ReLU -> 256::

        SlimMLPNeck(256, 4096, 256, with_bias=False, norm='switchable',
                    slim_in=False, width_mode='switchable',
                    channel_rule='int')

    - US3L projector (SimCLR), c(512 * exp) -> 2048 -> BN -> ReLU -> 2048 ->
      BN -> ReLU -> D::

        SlimMLPNeck(512, 2048, 256, num_layers=3, norm='bn',
                    slim_hidden=False)

      (BYOL variant, no bias on the middle Linear: ``with_bias=False,
      with_first_bias=True, with_last_bias=True``.)

    - US3L predictor, D -> H (no bias) -> BN -> ReLU -> D, not slimmed::

        SlimMLPNeck(256, 2048, 256, with_bias=False, with_last_bias=True,
                    norm='bn', slim_in=False, slim_hidden=False)

    Args:
        in_channels (int): Input features at full width.
        hid_channels (int): Hidden features at full width.
        out_channels (int): Output features (never sliced).
        num_layers (int): Number of Linear layers (>= 1). Defaults to 2.
        with_bias (bool): Bias of the hidden Linear layers. Defaults to True.
        with_last_bias (bool, optional): Bias of the last Linear; None
            follows ``with_bias``. Defaults to None.
        with_first_bias (bool, optional): Bias of the first Linear when it is
            not the last; None follows ``with_bias``. Defaults to None.
        norm (str): BN after each hidden Linear: ``'none'``, ``'bn'`` (one
            BN shared by all widths, sliced: ``SlimBatchNorm1d``) or
            ``'switchable'`` (a private BN per width:
            ``SwitchableBatchNorm1d``; needs ``width_mode='switchable'``).
            Defaults to ``'none'``.
        with_last_bn (bool): BN after the last Linear (a private one per
            width when ``norm='switchable'``, else shared). Defaults to
            False.
        with_last_bn_affine (bool): Affine parameters of the last BN.
            Defaults to True.
        slim_in (bool): The input is the backbone's active channels at the
            width (``fc0`` input sliced). Defaults to True.
        slim_hidden (bool): Hidden width scales with the network width.
            Defaults to True.
        with_avg_pool (bool): Global-average-pool a 4-D input. Defaults to
            True.
        width_mode (str): ``'universal'`` (any width in ``width_range``) or
            ``'switchable'`` (the widths of ``widths``). Defaults to
            ``'universal'``.
        width_range (tuple[float, float]): Accepted widths in universal
            mode. Defaults to ``(0.25, 1.0)``.
        widths (Sequence[float]): Accepted widths in switchable mode.
            Defaults to ``(1.0, 0.75, 0.5, 0.25)``.
        channel_rule (str): ``'divisible8'`` (US3L) or ``'int'`` (SlimCLR).
            Defaults to ``'divisible8'``.
        track_running_stats (bool): Running statistics of the BNs. Defaults
            to True.
        init_cfg (dict | list[dict], optional): Initialisation config;
            None keeps PyTorch's default init. Defaults to None.

    Example:
        >>> import torch
        >>> from slim_plugins.ops import using_width
        >>> neck = SlimMLPNeck(64, 128, 32, norm='bn')
        >>> with using_width(neck, 0.5):
        ...     (out, ) = neck((torch.rand(4, 32, 7, 7), ))
        >>> out.shape
        torch.Size([4, 32])
        >>> neck.active_dims(0.5)
        (32, 64, 32)
    """

    def __init__(self,
                 in_channels: int,
                 hid_channels: int,
                 out_channels: int,
                 num_layers: int = 2,
                 with_bias: bool = True,
                 with_last_bias: Optional[bool] = None,
                 norm: str = 'none',
                 with_last_bn: bool = False,
                 with_last_bn_affine: bool = True,
                 slim_in: bool = True,
                 slim_hidden: bool = True,
                 with_avg_pool: bool = True,
                 width_mode: str = 'universal',
                 width_range: Tuple[float, float] = (0.25, 1.0),
                 widths: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                 channel_rule: str = 'divisible8',
                 with_first_bias: Optional[bool] = None,
                 track_running_stats: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if norm not in NORMS:
            raise ValueError(f'SlimMLPNeck(norm={norm!r}) is not supported; '
                             f'choose one of {list(NORMS)} in the neck '
                             'config.')
        if width_mode not in WIDTH_MODES:
            raise ValueError(f'SlimMLPNeck(width_mode={width_mode!r}) is not '
                             f'supported; choose one of {list(WIDTH_MODES)}.')
        if norm == 'switchable' and width_mode != 'switchable':
            raise ValueError(
                "SlimMLPNeck(norm='switchable') keeps one BN per width of "
                "`widths` and needs width_mode='switchable'; use norm='bn' "
                'for a universal (any-width) neck.')
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f'SlimMLPNeck(num_layers={num_layers}) needs at '
                             'least one Linear layer.')
        for name, value in (('in_channels', in_channels),
                            ('hid_channels', hid_channels),
                            ('out_channels', out_channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'SlimMLPNeck({name}={value!r}) must be a '
                                 'positive integer.')
        get_channel_rule(channel_rule)
        if width_mode == 'universal':
            low, high = width_range
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(f'SlimMLPNeck(width_range='
                                 f'{tuple(width_range)}) must satisfy '
                                 '0 < low <= high <= 1.')
            state = WidthState(width_range=(low, high), owner='SlimMLPNeck')
        else:
            state = WidthState(widths=widths, owner='SlimMLPNeck')

        self.in_channels = in_channels
        self.hid_channels = hid_channels
        self.out_channels = out_channels
        self.num_layers = num_layers
        self.norm = norm
        self.with_last_bn = with_last_bn
        self.slim_in = slim_in
        self.slim_hidden = slim_hidden
        self.with_avg_pool = with_avg_pool
        self.width_mode = width_mode
        self.channel_rule = channel_rule
        self._widths = tuple(widths)
        self._track_running_stats = track_running_stats

        last = num_layers - 1
        dims = [in_channels] + [hid_channels] * last + [out_channels]
        slim = [slim_in] + [slim_hidden] * last + [False]
        with_last_bias = with_bias if with_last_bias is None \
            else with_last_bias
        with_first_bias = with_bias if with_first_bias is None \
            else with_first_bias
        self.fc_names: List[str] = []
        self.bn_names: List[Optional[str]] = []
        for i in range(num_layers):
            bias = with_last_bias if i == last else (
                with_first_bias if i == 0 else with_bias)
            fc = SlimLinear(
                dims[i],
                dims[i + 1],
                bias=bias,
                slim_in=slim[i],
                slim_out=slim[i + 1],
                channel_rule=channel_rule)
            self.add_module(f'fc{i}', fc)
            self.fc_names.append(f'fc{i}')
            bn = None
            if i < last and norm != 'none':
                bn = self._build_bn(hid_channels, slim_hidden, affine=True)
            elif i == last and with_last_bn:
                bn = self._build_bn(
                    out_channels, False, affine=with_last_bn_affine)
            if bn is not None:
                self.add_module(f'bn{i}', bn)
                self.bn_names.append(f'bn{i}')
            else:
                self.bn_names.append(None)
        self.width_state = share_width_state(self, state)

    def _build_bn(self, features: int, slim: bool, affine: bool) -> nn.Module:
        """A BN of the kind ``norm`` asks for, sliced only when ``slim``."""
        kwargs = dict(
            affine=affine, track_running_stats=self._track_running_stats)
        if self.norm == 'switchable':
            cls = SwitchableBatchNorm1d if slim else FullSwitchableBatchNorm1d
            return cls(
                features,
                widths=self._widths,
                channel_rule=self.channel_rule,
                **kwargs)
        if self.norm == 'bn' and slim:
            return SlimBatchNorm1d(
                features, channel_rule=self.channel_rule, **kwargs)
        # Features that never shrink: one plain BN for every width.
        return nn.BatchNorm1d(features, **kwargs)

    @property
    def width(self) -> float:
        """The active width."""
        return self.width_state.width

    def active_dims(self,
                    width: Optional[float] = None) -> Tuple[int, int, int]:
        """Active ``(input, hidden, output)`` features at ``width``.

        Args:
            width (float, optional): Defaults to the active width.

        Returns:
            tuple[int, int, int]: ``hidden`` equals ``out_channels`` for a
            one-layer neck.
        """
        width = self.width if width is None else self.width_state.check(width)
        rule = get_channel_rule(self.channel_rule)
        c_in = rule(self.in_channels, width) if self.slim_in \
            else self.in_channels
        if self.num_layers == 1:
            return c_in, self.out_channels, self.out_channels
        c_hid = rule(self.hid_channels, width) if self.slim_hidden \
            else self.hid_channels
        return c_in, c_hid, self.out_channels

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor]:
        """Project the last tensor of ``inputs``.

        Args:
            inputs (tuple[Tensor]): Backbone outputs; the last one is used,
                ``(N, C)`` or ``(N, C, H, W)`` (pooled when
                ``with_avg_pool``).

        Returns:
            tuple[Tensor]: One ``(N, out_channels)`` tensor.
        """
        if not isinstance(inputs, (tuple, list)):
            raise TypeError(f'SlimMLPNeck takes a tuple of tensors (the '
                            f'backbone outputs), got '
                            f'{type(inputs).__name__}.')
        x = inputs[-1]
        if self.with_avg_pool and x.dim() == 4:
            x = F.adaptive_avg_pool2d(x, 1)
        x = x.flatten(1)
        expected = self.active_dims()[0]
        if x.size(1) != expected:
            raise ValueError(
                f'SlimMLPNeck at width {self.width:g} expects {expected} '
                f'input features (in_channels={self.in_channels}, slim_in='
                f'{self.slim_in}, channel_rule={self.channel_rule!r}) but got '
                f'{x.size(1)}; check in_channels/slim_in against the '
                'backbone and that both run at the same width.')
        last = self.num_layers - 1
        for i, (fc_name, bn_name) in enumerate(
                zip(self.fc_names, self.bn_names)):
            x = getattr(self, fc_name)(x)
            if bn_name is not None:
                x = getattr(self, bn_name)(x)
            if i < last:
                x = F.relu(x, inplace=True)
        return (x, )
