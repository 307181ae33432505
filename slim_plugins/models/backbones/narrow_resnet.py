# Copyright (c) slim_plugins contributors. All rights reserved.
"""A plain ResNet with explicit per-stage channels (exported sub-networks).
"""
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Union

import torch.nn as nn

from slim_plugins.registry import MODELS
from .resnet_base import ResNetBase, ResNetChannels


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int,
          padding: int) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        bias=False)


@MODELS.register_module()
class NarrowResNet(ResNetBase):
    """ResNet with explicit stem and per-stage channels, no run-time slicing.

    The static form of a :class:`SlimResNet` at one width, as produced by
    :func:`slim_plugins.models.utils.export_subnet` (US3L's
    ``prepare_width_model.py`` for detection transfer). Plain ``nn.Conv2d``
    and ``nn.BatchNorm2d`` layers, mmpretrain ``ResNet`` state-dict keys, so
    it drops into mmpretrain / mmdet configs (remember to set the neck's or
    head's ``in_channels`` to ``out_channels``).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        stem_channels (int): Output channels of the stem conv.
        mid_channels (Sequence[int]): Inner channels of each stage's blocks.
        out_channels (Sequence[int]): Output channels of each stage.
        stem (str): ``'cifar'`` or ``'imagenet'``. Defaults to ``'cifar'``.
        stem_padding (int, optional): Stem conv padding; None gives 1
            (cifar) / 3 (imagenet). Defaults to None.
        in_channels (int): Input image channels. Defaults to 3.
        strides (Sequence[int]): Stride of each stage. Defaults to
            ``(1, 2, 2, 2)``.
        out_indices (Sequence[int]): Stages to return. Defaults to ``(3, )``.
        frozen_stages (int): Stages to freeze, -1 for none. Defaults to -1.
        norm_eval (bool): Keep BNs in eval mode in training. Defaults to
            False.
        track_running_stats (bool): BN running statistics. Defaults to True.
        zero_init_residual (bool): Zero the last BN scale of each block.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.

    Example:
        >>> net = NarrowResNet(18, 32, (32, 64, 128, 256), (32, 64, 128, 256))
        >>> net.mmpretrain_config()['base_channels']
        32
    """

    def __init__(self,
                 depth: int,
                 stem_channels: int,
                 mid_channels: Sequence[int],
                 out_channels: Sequence[int],
                 stem: str = 'cifar',
                 stem_padding: Optional[int] = None,
                 in_channels: int = 3,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 track_running_stats: bool = True,
                 zero_init_residual: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        channels = ResNetChannels(
            stem=int(stem_channels),
            mid=tuple(int(c) for c in mid_channels),
            out=tuple(int(c) for c in out_channels))
        if min((channels.stem, ) + channels.mid + channels.out) < 1:
            raise ValueError(f'channels must be positive, got {channels}.')
        super().__init__(
            depth,
            channels,
            conv_layer=_conv,
            stem_conv_layer=_conv,
            norm_layer=partial(
                nn.BatchNorm2d, track_running_stats=track_running_stats),
            in_channels=in_channels,
            stem=stem,
            stem_padding=stem_padding,
            strides=strides,
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg)
        self.track_running_stats = track_running_stats

    def mmpretrain_config(self) -> Optional[Dict[str, Any]]:
        """The equivalent mmpretrain ``ResNet``/``ResNet_CIFAR`` config.

        mmpretrain's ResNet has ``base * 2**i`` inner and
        ``base * 2**i * expansion`` output channels in stage ``i`` and a
        standard stem, so only such channel tables are expressible.

        Returns:
            dict | None: The backbone config (same state-dict keys), or None
            if the channels or the stem do not fit mmpretrain's ResNet.
        """
        base = self.channels.mid[0]
        expansion = self.block.expansion
        for i, (mid, out) in enumerate(zip(self.channels.mid,
                                           self.channels.out)):
            if mid != base * 2**i or out != base * 2**i * expansion:
                return None
        if self.stem_padding != (1 if self.stem == 'cifar' else 3):
            return None
        config = dict(
            type='ResNet_CIFAR' if self.stem == 'cifar' else 'ResNet',
            depth=self.depth,
            in_channels=self.in_channels,
            stem_channels=self.channels.stem,
            base_channels=base,
            strides=self.strides,
            out_indices=self.out_indices,
            frozen_stages=self.frozen_stages,
            norm_eval=self.norm_eval)
        if not self.track_running_stats:
            config['norm_cfg'] = dict(
                type='BN', requires_grad=True, track_running_stats=False)
        return config
