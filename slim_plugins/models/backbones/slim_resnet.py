# Copyright (c) slim_plugins contributors. All rights reserved.
"""Slimmable ResNet: one set of weights, any width (US3L) or a few (SlimCLR).
"""
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from slim_plugins.ops import (SlimBatchNorm2d, SlimConv2d,
                              SwitchableBatchNorm2d, WidthState,
                              get_channel_rule, set_width, share_width_state)
from slim_plugins.registry import MODELS
from slim_plugins.utils.bn_calibration import get_bank
from .resnet_base import ResNetBase, ResNetChannels, check_depth

WIDTH_MODES = ('universal', 'switchable')


@MODELS.register_module()
class SlimResNet(ResNetBase):
    """ResNet whose width is chosen at run time.

    Implementation of the slimmable ResNets of `US3L
    <https://arxiv.org/abs/2303.06870>`_ (``width_mode='universal'``: any
    width in ``width_range``, one BN shared by all widths) and `SlimCLR
    <https://arxiv.org/abs/2209.15525>`_ (``width_mode='switchable'``: the
    widths of ``widths``, a private BN per width). Every layer keeps its
    full-size tensors and runs with the leading slice given by
    ``channel_rule``; the width lives in one :class:`WidthState`
    (``self.width_state``) read by every slim op, and is changed with
    :meth:`set_width` or :func:`slim_plugins.ops.using_width`.

    State-dict keys are those of mmpretrain's ``ResNet`` (``ResNet_CIFAR``
    for ``stem='cifar'``); switchable BNs add ``*.switch_bns.<w>.*`` keys
    for the widths below the largest (see
    :mod:`slim_plugins.ops.switchable_bn`). A plain mmpretrain checkpoint
    loads strictly (for switchable BN it fills the largest width's BN).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        stem (str): ``'cifar'`` (3x3 stride-1 conv, no max-pool) or
            ``'imagenet'`` (7x7 stride-2 conv + max-pool). Defaults to
            ``'cifar'``.
        stem_padding (int, optional): Stem conv padding; None gives 1
            (cifar) / 3 (imagenet). Unification's CIFAR stem uses 2.
            Defaults to None.
        in_channels (int): Input image channels (never sliced). Defaults
            to 3.
        stem_channels (int): Stem output channels at full width. Defaults
            to 64.
        base_channels (int): Inner channels of the first stage at full
            width; stage ``i`` has ``base * 2**i`` inner and
            ``base * 2**i * expansion`` output channels. Defaults to 64.
        width_mode (str): ``'universal'`` or ``'switchable'``. Defaults to
            ``'universal'``.
        width_range (tuple[float, float]): Accepted widths in universal
            mode. Defaults to ``(0.25, 1.0)``.
        widths (Sequence[float]): Accepted widths in switchable mode.
            Defaults to ``(1.0, 0.75, 0.5, 0.25)``.
        channel_rule (str): ``'divisible8'`` (US3L) or ``'int'`` (SlimCLR).
            Defaults to ``'divisible8'``.
        track_running_stats (bool): False makes every BN use batch
            statistics, in eval mode too (US3L pre-training). Defaults to
            True.
        strides (Sequence[int]): Stride of each stage. Defaults to
            ``(1, 2, 2, 2)``.
        out_indices (Sequence[int]): Stages to return. Defaults to ``(3, )``.
        frozen_stages (int): Stages to freeze, -1 for none. Defaults to -1.
        norm_eval (bool): Keep BNs in eval mode in training. Defaults to
            False.
        zero_init_residual (bool): Zero every width's last BN scale of each
            block. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to Kaiming convs and unit BN scales.

    Example:
        >>> import torch
        >>> from slim_plugins.ops import using_width
        >>> net = SlimResNet(depth=18, out_indices=(0, 1, 2, 3))
        >>> net.active_channels(0.3)
        (24, 40, 80, 152)
        >>> with using_width(net, 0.5):
        ...     outs = net(torch.rand(1, 3, 32, 32))
        >>> [out.shape[1] for out in outs]
        [32, 64, 128, 256]
    """

    def __init__(self,
                 depth: int,
                 stem: str = 'cifar',
                 stem_padding: Optional[int] = None,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 width_mode: str = 'universal',
                 width_range: Tuple[float, float] = (0.25, 1.0),
                 widths: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                 channel_rule: str = 'divisible8',
                 track_running_stats: bool = True,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        block, _ = check_depth(depth)
        get_channel_rule(channel_rule)
        if width_mode not in WIDTH_MODES:
            raise ValueError(f'width_mode={width_mode!r} is not supported; '
                             f'allowed: {list(WIDTH_MODES)}.')
        if width_mode == 'universal':
            low, high = width_range
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(f'width_range={tuple(width_range)} must '
                                 'satisfy 0 < low <= high <= 1.')
            state = WidthState(width_range=(low, high), owner='SlimResNet')
            norm_layer = partial(
                SlimBatchNorm2d,
                track_running_stats=track_running_stats,
                channel_rule=channel_rule)
        else:
            state = WidthState(widths=widths, owner='SlimResNet')
            norm_layer = partial(
                SwitchableBatchNorm2d,
                widths=widths,
                track_running_stats=track_running_stats,
                channel_rule=channel_rule)
        max_channels = ResNetChannels(
            stem=stem_channels,
            mid=tuple(base_channels * 2**i for i in range(4)),
            out=tuple(base_channels * 2**i * block.expansion
                      for i in range(4)))
        super().__init__(
            depth,
            max_channels,
            conv_layer=partial(
                SlimConv2d, bias=False, channel_rule=channel_rule),
            stem_conv_layer=partial(
                SlimConv2d,
                bias=False,
                slim_in=False,
                channel_rule=channel_rule),
            norm_layer=norm_layer,
            in_channels=in_channels,
            stem=stem,
            stem_padding=stem_padding,
            strides=strides,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg)
        self.width_mode = width_mode
        self.channel_rule = channel_rule
        self.track_running_stats = track_running_stats
        self.width_state = share_width_state(self, state)
        # Empty until calibrated; present so that a checkpoint's calibrated
        # statistics load into a freshly built backbone (strict loading).
        get_bank(self, create=True)

    @property
    def width(self) -> float:
        """The active width."""
        return self.width_state.width

    def set_width(self, width: float) -> float:
        """Set the active width (see :func:`slim_plugins.ops.set_width`).

        Args:
            width (float): A width the backbone accepts.

        Returns:
            float: The width that was set.
        """
        return set_width(self, width)

    def channel_table(self, width: Optional[float] = None) -> ResNetChannels:
        """Active channels of every layer at ``width``.

        Args:
            width (float, optional): Defaults to the active width.

        Returns:
            ResNetChannels: ``stem`` channels and per-stage ``mid``/``out``
            channels; with the block layout it fixes every tensor's shape.
        """
        width = self.width if width is None else self.width_state.check(
            width)
        rule = get_channel_rule(self.channel_rule)
        full = self.channels
        return ResNetChannels(
            stem=rule(full.stem, width),
            mid=tuple(rule(c, width) for c in full.mid),
            out=tuple(rule(c, width) for c in full.out))

    def active_channels(self,
                        width: Optional[float] = None) -> Tuple[int, ...]:
        """Output channels of each stage at ``width``.

        Args:
            width (float, optional): Defaults to the active width.

        Returns:
            tuple[int]: One entry per stage.
        """
        return self.channel_table(width).out

    def narrow_kwargs(self, width: Optional[float] = None) -> Dict[str, Any]:
        """Arguments of the :class:`NarrowResNet` equal to this net at width.

        Args:
            width (float, optional): Defaults to the active width.

        Returns:
            dict: Keyword arguments of ``NarrowResNet``.
        """
        table = self.channel_table(width)
        return dict(
            depth=self.depth,
            stem_channels=table.stem,
            mid_channels=table.mid,
            out_channels=table.out,
            stem=self.stem,
            stem_padding=self.stem_padding,
            in_channels=self.in_channels,
            strides=self.strides,
            out_indices=self.out_indices,
            frozen_stages=self.frozen_stages,
            norm_eval=self.norm_eval,
            track_running_stats=self.track_running_stats)
