# Copyright (c) slim_plugins contributors. All rights reserved.
"""ResNet body shared by :class:`SlimResNet` and :class:`NarrowResNet`.

The two backbones differ only in the layers they are built from (slim ops vs
plain torch layers) and in how the channels are given (full channels + a
width vs explicit per-stage channels), so the blocks, the stage layout, the
forward and the ``frozen_stages``/``norm_eval`` contract live here once.
Module names follow mmpretrain's ``ResNet`` (``conv1``, ``bn1``,
``layer{i}.{j}.conv1``, ``...downsample.0``), so state dicts are
interchangeable.
"""
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple, Type, Union)

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

ConvLayer = Callable[[int, int, int, int, int], nn.Module]
NormLayer = Callable[[int], nn.Module]

STEMS = ('cifar', 'imagenet')


class ResNetChannels(NamedTuple):
    """Channels of a ResNet: the stem and, per stage, its blocks' channels.

    Every block of a stage has the same channels, so this table fixes every
    layer: a block maps ``in -> mid`` (conv1), ``mid -> mid`` (conv2 of a
    bottleneck), ``mid -> out`` (last conv); the first block of a stage has
    ``in`` = previous stage's ``out`` (the stem's for stage 1), the others
    ``in = out``; a downsample maps ``in -> out``.

    Args:
        stem (int): Output channels of the stem conv.
        mid (tuple[int]): Per stage, the inner channels of its blocks.
        out (tuple[int]): Per stage, the output channels of its blocks.
    """

    stem: int
    mid: Tuple[int, ...]
    out: Tuple[int, ...]


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34); ``mid == out`` in standard nets."""

    expansion = 1

    def __init__(self, in_channels: int, mid_channels: int,
                 out_channels: int, stride: int,
                 downsample: Optional[nn.Module], conv_layer: ConvLayer,
                 norm_layer: NormLayer) -> None:
        super().__init__()
        self.conv1 = conv_layer(in_channels, mid_channels, 3, stride, 1)
        self.bn1 = norm_layer(mid_channels)
        self.conv2 = conv_layer(mid_channels, out_channels, 3, 1, 1)
        self.bn2 = norm_layer(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        """The BN before the residual sum (zero-initialised on request)."""
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, ResNet v1.5) -> 1x1 convs (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, in_channels: int, mid_channels: int,
                 out_channels: int, stride: int,
                 downsample: Optional[nn.Module], conv_layer: ConvLayer,
                 norm_layer: NormLayer) -> None:
        super().__init__()
        self.conv1 = conv_layer(in_channels, mid_channels, 1, 1, 0)
        self.bn1 = norm_layer(mid_channels)
        self.conv2 = conv_layer(mid_channels, mid_channels, 3, stride, 1)
        self.bn2 = norm_layer(mid_channels)
        self.conv3 = conv_layer(mid_channels, out_channels, 1, 1, 0)
        self.bn3 = norm_layer(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    @property
    def last_norm(self) -> nn.Module:
        """The BN before the residual sum (zero-initialised on request)."""
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


ARCH_SETTINGS: Dict[int, Tuple[Type[nn.Module], Tuple[int, ...]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def check_depth(depth: int) -> Tuple[Type[nn.Module], Tuple[int, ...]]:
    """Block type and blocks per stage of a ResNet depth.

    Args:
        depth (int): 18, 34, 50, 101 or 152.

    Returns:
        tuple: ``(block class, blocks per stage)``.
    """
    if depth not in ARCH_SETTINGS:
        raise ValueError(f'depth={depth!r} is not a supported ResNet depth; '
                         f'allowed: {sorted(ARCH_SETTINGS)}.')
    return ARCH_SETTINGS[depth]


def check_stem(stem: str, stem_padding: Optional[int]) -> int:
    """Validate the stem type and return its conv padding.

    Args:
        stem (str): ``'cifar'`` (3x3/1, no max-pool) or ``'imagenet'``
            (7x7/2 + 3x3/2 max-pool).
        stem_padding (int, optional): Padding of the stem conv; None gives
            1 for ``'cifar'`` and 3 for ``'imagenet'``.

    Returns:
        int: The stem conv padding.
    """
    if stem not in STEMS:
        raise ValueError(f'stem={stem!r} is not supported; allowed: '
                         f'{list(STEMS)}.')
    if stem_padding is None:
        return 1 if stem == 'cifar' else 3
    if not isinstance(stem_padding, int) or stem_padding < 0:
        raise ValueError(f'stem_padding={stem_padding!r} must be a '
                         'non-negative int.')
    return stem_padding


def stage_outputs(net: nn.Module,
                  x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Run ``x`` (the stem's output) through ``net.res_layers``; return the
    outputs of the stages in ``net.out_indices``."""
    outs = []
    for i, name in enumerate(net.res_layers):
        x = getattr(net, name)(x)
        if i in net.out_indices:
            outs.append(x)
    return tuple(outs)


class ResNetBase(BaseModule):
    """ResNet built from injected conv/BN layers with explicit channels.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        channels (ResNetChannels): Channels of the stem and the stages.
        conv_layer (callable): ``(in, out, kernel, stride, padding)`` ->
            conv module, for all convs but the stem.
        stem_conv_layer (callable): Same, for the stem conv.
        norm_layer (callable): ``num_features`` -> BN module.
        in_channels (int): Input image channels. Defaults to 3.
        stem (str): ``'cifar'`` or ``'imagenet'``. Defaults to ``'cifar'``.
        stem_padding (int, optional): Stem conv padding; None gives the
            standard one. Defaults to None.
        strides (Sequence[int]): Stride of each stage's first block.
            Defaults to ``(1, 2, 2, 2)``.
        out_indices (Sequence[int]): Stages whose output is returned.
            Defaults to ``(3, )``.
        frozen_stages (int): Stages to freeze (eval mode, no gradient); 0
            freezes the stem only, -1 nothing. Defaults to -1.
        norm_eval (bool): Keep every BN in eval mode while training.
            Defaults to False.
        zero_init_residual (bool): Zero the last BN's scale of each block in
            ``init_weights``. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 depth: int,
                 channels: ResNetChannels,
                 conv_layer: ConvLayer,
                 stem_conv_layer: ConvLayer,
                 norm_layer: NormLayer,
                 in_channels: int = 3,
                 stem: str = 'cifar',
                 stem_padding: Optional[int] = None,
                 strides: Sequence[int] = (1, 2, 2, 2),
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 zero_init_residual: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d']),
                dict(type='Constant', val=1, layer=['_BatchNorm'])
            ]
        super().__init__(init_cfg=init_cfg)
        self.block, stage_blocks = check_depth(depth)
        self.depth = depth
        self.stem = stem
        self.stem_padding = check_stem(stem, stem_padding)
        num_stages = len(stage_blocks)
        if len(strides) != num_stages or len(channels.mid) != num_stages \
                or len(channels.out) != num_stages:
            raise ValueError(
                f'strides={tuple(strides)}, mid channels {channels.mid} and '
                f'out channels {channels.out} must each have {num_stages} '
                'entries, one per stage.')
        self.out_indices = self._check_out_indices(out_indices, num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages={frozen_stages} must be in '
                             f'[-1, {num_stages}].')
        self.in_channels = in_channels
        self.channels = channels
        self.strides = tuple(strides)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual

        kernel = 3 if stem == 'cifar' else 7
        stride = 1 if stem == 'cifar' else 2
        self.conv1 = stem_conv_layer(in_channels, channels.stem, kernel,
                                     stride, self.stem_padding)
        self.bn1 = norm_layer(channels.stem)
        self.relu = nn.ReLU(inplace=True)
        if stem == 'imagenet':
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.res_layers = []
        prev = channels.stem
        for i, num_blocks in enumerate(stage_blocks):
            layer = self._make_stage(num_blocks, prev, channels.mid[i],
                                     channels.out[i], strides[i], conv_layer,
                                     norm_layer)
            name = f'layer{i + 1}'
            self.add_module(name, layer)
            self.res_layers.append(name)
            prev = channels.out[i]
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(out_indices: Sequence[int],
                           num_stages: int) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        checked = []
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(f'out_indices={tuple(out_indices)} must '
                                 f'index the {num_stages} stages.')
            checked.append(index % num_stages)
        return tuple(checked)

    def _make_stage(self, num_blocks: int, in_channels: int,
                    mid_channels: int, out_channels: int, stride: int,
                    conv_layer: ConvLayer,
                    norm_layer: NormLayer) -> nn.Sequential:
        downsample = None
        # Decided on the layout, not on the (possibly narrowed) channel
        # counts, so a narrow copy keeps every downsample of its source.
        if stride != 1 or in_channels != out_channels or \
                self.block.expansion != 1:
            downsample = nn.Sequential(
                conv_layer(in_channels, out_channels, 1, stride, 0),
                norm_layer(out_channels))
        blocks = [
            self.block(in_channels, mid_channels, out_channels, stride,
                       downsample, conv_layer, norm_layer)
        ]
        for _ in range(1, num_blocks):
            blocks.append(
                self.block(out_channels, mid_channels, out_channels, 1, None,
                           conv_layer, norm_layer))
        return nn.Sequential(*blocks)

    def init_weights(self) -> None:
        """Initialise from ``init_cfg``; optionally zero the residual BNs."""
        super().init_weights()
        if self.zero_init_residual and not (
                isinstance(self.init_cfg, dict)
                and self.init_cfg.get('type') == 'Pretrained'):
            for name in self.res_layers:
                for block in getattr(self, name):
                    # Every private BN of a switchable layer, too.
                    for bn in block.last_norm.modules():
                        if isinstance(bn, _BatchNorm) and bn.affine:
                            nn.init.zeros_(bn.weight)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.conv1, self.bn1] + [
            getattr(self, self.res_layers[i])
            for i in range(self.frozen_stages)
        ]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'ResNetBase':
        """Set the mode, then re-apply ``frozen_stages`` and ``norm_eval``."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the outputs of the stages listed in ``out_indices``."""
        x = self.relu(self.bn1(self.conv1(x)))
        if self.stem == 'imagenet':
            x = self.maxpool(x)
        return stage_outputs(self, x)
