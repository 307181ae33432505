# Copyright (c) slim_plugins contributors. All rights reserved.
"""A SlimResNet deployed at one width: a static ResNet for downstream tasks.
"""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_norm_layer

from slim_plugins.ops import get_channel_rule
from slim_plugins.registry import MODELS
from .pretrained_loading import is_pretrained_cfg, load_pretrained_strict
from .resnet_base import ResNetBase, ResNetChannels, check_depth


def width_channel_table(depth: int,
                        width: float,
                        channel_rule: str = 'divisible8',
                        stem_channels: int = 64,
                        base_channels: int = 64) -> ResNetChannels:
    """Channels of a :class:`SlimResNet` with these arguments at ``width``.

    Stage ``i`` of the full network has ``base * 2**i`` inner and
    ``base * 2**i * expansion`` output channels; every count is then reduced
    with ``channel_rule`` (equal to ``SlimResNet.channel_table(width)``).

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        width (float): Width multiplier in ``(0, 1]``.
        channel_rule (str): ``'divisible8'`` (US3L) or ``'int'`` (SlimCLR).
            Defaults to ``'divisible8'``.
        stem_channels (int): Stem channels at full width. Defaults to 64.
        base_channels (int): First-stage inner channels at full width.
            Defaults to 64.

    Returns:
        ResNetChannels: Stem and per-stage channels at ``width``.

    Example:
        >>> width_channel_table(50, 0.25).out
        (64, 128, 256, 512)
    """
    block, _ = check_depth(depth)
    if not isinstance(width, (int, float)) or not 0.0 < width <= 1.0:
        raise ValueError(f'width={width!r} must be a number in (0, 1]; set '
                         'model.backbone.width in the config.')
    rule = get_channel_rule(channel_rule)
    return ResNetChannels(
        stem=rule(stem_channels, width),
        mid=tuple(rule(base_channels * 2**i, width) for i in range(4)),
        out=tuple(
            rule(base_channels * 2**i * block.expansion, width)
            for i in range(4)))


@MODELS.register_module()
class DeployedSlimResNet(ResNetBase):
    """The static network of a :class:`SlimResNet` at one width.

    What a slimmable backbone becomes for detection transfer at a deployed
    width (US3L's ``prepare_width_model.py``; SlimCLR's Mask R-CNN at one
    width): plain convolutions with the channel table of
    ``SlimResNet(depth, channel_rule=..., stem_channels=...,
    base_channels=...)`` at ``width``, so it costs the FLOPs of that width
    only. Normalisation layers come from ``norm_cfg`` (``BN``, ``SyncBN``,
    ...), as in mmdet's ``ResNet``. State-dict keys are those of
    mmpretrain's / mmdet's ``ResNet`` and of :class:`NarrowResNet`, i.e. the
    files written by ``tools/model_converters/ssl_to_mmdet.py``.

    The output channels of the returned stages are :attr:`out_channels`;
    detectors of :mod:`slim_plugins.models.detectors` read them to size the
    neck, so configs never list channels by hand.

    A ``Pretrained`` ``init_cfg`` is loaded **strictly** (unless
    ``strict_pretrained=False``): a checkpoint of another width or
    architecture raises a ``ValueError`` listing every missing, unexpected
    and mis-shaped key, where mmengine would only log them.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        width (float): The deployed width in ``(0, 1]``. Defaults to 1.0.
        channel_rule (str): ``'divisible8'`` (US3L) or ``'int'`` (SlimCLR).
            Defaults to ``'divisible8'``.
        stem (str): ``'imagenet'`` (7x7/2 conv + max-pool) or ``'cifar'``.
            Defaults to ``'imagenet'``.
        stem_padding (int, optional): Stem conv padding; None gives the
            standard one. Defaults to None.
        in_channels (int): Input image channels. Defaults to 3.
        stem_channels (int): Stem channels at full width. Defaults to 64.
        base_channels (int): First-stage inner channels at full width.
            Defaults to 64.
        strides (Sequence[int]): Stride of each stage. Defaults to
            ``(1, 2, 2, 2)``.
        out_indices (Sequence[int]): Stages to return. Defaults to
            ``(0, 1, 2, 3)`` (an FPN's four inputs).
        frozen_stages (int): Stages to freeze, -1 for none (the SSL
            transfer protocol). Defaults to -1.
        norm_cfg (dict): Normalisation layer config. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep BNs in eval mode in training. Defaults to
            False.
        zero_init_residual (bool): Zero the last BN scale of each block
            when not loading pre-trained weights. Defaults to False.
        strict_pretrained (bool): Load a ``Pretrained`` init_cfg strictly.
            Defaults to True.
        init_cfg (dict | list[dict], optional): Initialisation config, e.g.
            ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.

    Example:
        >>> import torch
        >>> net = DeployedSlimResNet(50, width=0.5, channel_rule='int')
        >>> net.out_channels
        (128, 256, 512, 1024)
        >>> [o.shape[1] for o in net(torch.rand(1, 3, 64, 64))]
        [128, 256, 512, 1024]
    """

    def __init__(self,
                 depth: int,
                 width: float = 1.0,
                 channel_rule: str = 'divisible8',
                 stem: str = 'imagenet',
                 stem_padding: Optional[int] = None,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 strict_pretrained: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        channels = width_channel_table(depth, width, channel_rule,
                                       stem_channels, base_channels)
        norm_cfg = copy.deepcopy(norm_cfg)

        def norm_layer(num_features: int) -> nn.Module:
            return build_norm_layer(norm_cfg, num_features)[1]

        super().__init__(
            depth,
            channels,
            conv_layer=_conv,
            stem_conv_layer=_conv,
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
        self.width = float(width)
        self.channel_rule = channel_rule
        self.norm_cfg = norm_cfg
        self.strict_pretrained = strict_pretrained

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned stage (in ``out_indices`` order)."""
        return tuple(self.channels.out[i] for i in self.out_indices)

    def init_weights(self) -> None:
        """Initialise; a ``Pretrained`` init_cfg is loaded strictly."""
        if self.strict_pretrained and is_pretrained_cfg(self.init_cfg):
            load_pretrained_strict(self, self.init_cfg)
            self._is_init = True
            return
        super().init_weights()


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int,
          padding: int) -> nn.Conv2d:
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        bias=False)
