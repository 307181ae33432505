# Copyright (c) slim_plugins contributors. All rights reserved.
"""A gated ResNet with its never-used channels removed."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from slim_plugins.registry import MODELS
from ..utils.channel_gate import ChannelGate
from ..utils.gate_usage import GateUsage
from .gated_resnet import GatedResNet, GatedStagesMixin, conv_block_macs
from .resnet_base import BasicBlock, check_depth, check_stem


class PrunedGatedBlock(nn.Module):
    """A BasicBlock with ``mid_channels`` intermediate channels, of which
    those at ``gated_index`` are masked per input by a gate.

    Args:
        in_channels (int): Block input channels.
        out_channels (int): Block output channels.
        mid_channels (int): Kept intermediate channels (may be 0).
        gated_index (Sequence[int]): Positions, among the kept channels, of
            the data-dependent ones (the rest are always on).
        stride (int): Stride of conv1 and the downsample.
        downsample (bool): A 1x1 conv + BN shortcut.
        gate_reduction (int): The gate's hidden divisor.
        gate_tau (float): The gate's temperature.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 mid_channels: int, gated_index: Sequence[int], stride: int,
                 downsample: bool, gate_reduction: int,
                 gate_tau: float) -> None:
        super().__init__()
        if any(not 0 <= i < mid_channels for i in gated_index):
            raise ValueError(f'PrunedGatedBlock: gated_index {gated_index} '
                             f'must index the {mid_channels} kept channels.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mid_channels = mid_channels
        self.stride = stride
        if mid_channels:
            self.conv1 = nn.Conv2d(
                in_channels, mid_channels, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid_channels)
            self.conv2 = nn.Conv2d(
                mid_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.gate = ChannelGate(
            in_channels,
            len(gated_index),
            reduction=gate_reduction,
            tau=gate_tau) if len(gated_index) else None
        self.register_buffer(
            'gated_index', torch.tensor(list(gated_index), dtype=torch.long))
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
            nn.BatchNorm2d(out_channels)) if downsample else None
        self.last_active: Optional[torch.Tensor] = None
        self.last_hw: Optional[Tuple[int, int]] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        self.last_hw = tuple(identity.shape[-2:])
        if not self.mid_channels:
            # Every intermediate channel was off: conv2 sees zeros.
            self.last_active = x.new_zeros(x.shape[0])
            out = self.bn2(identity.new_zeros(identity.shape))
            return self.relu(out + identity)
        out = self.relu(self.bn1(self.conv1(x)))
        active = x.new_full((x.shape[0], ), float(self.mid_channels))
        if self.gate is not None:
            mask = x.new_ones(x.shape[0], self.mid_channels)
            gated = self.gate(x)
            mask[:, self.gated_index] = gated
            out = out * mask[:, :, None, None]
            active = mask.sum(dim=1)
        self.last_active = active
        return self.relu(self.bn2(self.conv2(out)) + identity)

    def macs(self) -> torch.Tensor:
        """Per-sample MACs of the last forward (convs and gate)."""
        macs = conv_block_macs(self.last_active, self.last_hw,
                               self.in_channels, self.out_channels,
                               self.downsample is not None)
        return macs if self.gate is None else macs + self.gate.macs()


@MODELS.register_module()
class PrunedGatedResNet(GatedStagesMixin, BaseModule):
    """The gated path of a :class:`GatedResNet` without the channels a
    calibration set never turned on.

    Built by :meth:`from_gated` (``tools/model_converters/export_gated.py``)
    from a trained GatedResNet and its
    :class:`~slim_plugins.models.utils.GateUsage`: per block, the
    always-off intermediate channels are gone (conv1 has fewer filters,
    conv2 fewer inputs), the always-on ones run without a gate and only the
    data-dependent ones keep theirs, so the network runs cheaper than the
    original's gated path (which computes every channel and multiplies by
    the mask). On images whose masks never use a removed channel it
    computes exactly what the gated path computes.

    Args:
        depth (int): 18 or 34.
        mid_channels (Sequence[int]): Kept channels of every block.
        gated_index (Sequence[Sequence[int]]): Gated positions per block.
        stem (str): ``'cifar'`` or ``'imagenet'``.
        stem_padding (int): Padding of the stem conv.
        in_channels (int): Image channels. Defaults to 3.
        stem_channels (int): Defaults to 64.
        base_channels (int): Defaults to 64.
        gate_reduction (int): Defaults to 4.
        gate_tau (float): Defaults to 0.66667.
        out_indices (Sequence[int]): Defaults to ``(3, )``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 depth: int,
                 mid_channels: Sequence[int],
                 gated_index: Sequence[Sequence[int]],
                 stem: str,
                 stem_padding: int,
                 in_channels: int = 3,
                 stem_channels: int = 64,
                 base_channels: int = 64,
                 gate_reduction: int = 4,
                 gate_tau: float = 0.66667,
                 out_indices: Sequence[int] = (3, ),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        block, stages = check_depth(depth)
        if block is not BasicBlock:
            raise ValueError(f'PrunedGatedResNet: depth={depth} has '
                             f'Bottleneck blocks; gated networks are '
                             f'ResNet-18 / 34.')
        stem_padding = check_stem(stem, stem_padding)
        if len(mid_channels) != sum(stages) or len(gated_index) != sum(
                stages):
            raise ValueError(f'PrunedGatedResNet: ResNet-{depth} has '
                             f'{sum(stages)} blocks; got {len(mid_channels)} '
                             f'mid_channels and {len(gated_index)} '
                             f'gated_index entries.')
        self.stem = stem
        self.out_indices = tuple(out_indices)
        self.conv1 = nn.Conv2d(
            in_channels,
            stem_channels,
            3 if stem == 'cifar' else 7,
            stride=1 if stem == 'cifar' else 2,
            padding=stem_padding,
            bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        if stem == 'imagenet':
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.res_layers = []
        index = 0
        inplanes = stem_channels
        for i, num_blocks in enumerate(stages):
            planes = base_channels * 2**i
            blocks = []
            for j in range(num_blocks):
                stride = (1 if i == 0 else 2) if j == 0 else 1
                blocks.append(
                    PrunedGatedBlock(
                        inplanes, planes, mid_channels[index],
                        gated_index[index], stride, j == 0 and
                        (stride != 1 or inplanes != planes), gate_reduction,
                        gate_tau))
                inplanes = planes
                index += 1
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            self.res_layers.append(f'layer{i + 1}')
        self._stem_hw: Optional[Tuple[int, int]] = None

    @property
    def norm1(self) -> nn.Module:
        return self.bn1

    def macs(self) -> torch.Tensor:
        """Per-sample MACs of the last forward (stem, blocks, gates)."""
        return self.stem_macs() + sum(b.macs() for b in self.blocks())

    @classmethod
    def from_gated(cls, gated: GatedResNet,
                   usage: GateUsage) -> Tuple['PrunedGatedResNet', dict]:
        """Prune ``gated`` by ``usage``; return the network (eval mode) and
        its constructor arguments.

        The gated path's tensors are copied: the gated BN copies when the
        source has ``separate_bn``, conv1/BN1 rows and conv2 columns of the
        kept channels, the gate rows of the data-dependent ones.

        Args:
            gated (GatedResNet): The trained network.
            usage (GateUsage): Channel usage on a calibration set.

        Returns:
            tuple[PrunedGatedResNet, dict]: The network and the ``kwargs``
            that rebuild it (``type`` included).
        """
        blocks = gated.blocks()
        if len(usage.on_counts) != len(blocks):
            raise ValueError(f'PrunedGatedResNet.from_gated: the usage has '
                             f'{len(usage.on_counts)} blocks, the network '
                             f'{len(blocks)}.')
        keep, dependent = [], []
        for i in range(len(blocks)):
            kept = torch.nonzero(~usage.always_off(i)).flatten()
            dep = usage.data_dependent(i)[kept]
            keep.append(kept)
            dependent.append(torch.nonzero(dep).flatten())
        gate = blocks[0].gate
        kwargs = dict(
            type='PrunedGatedResNet',
            depth=gated.depth,
            mid_channels=[int(k.numel()) for k in keep],
            gated_index=[d.tolist() for d in dependent],
            stem=gated.stem,
            stem_padding=gated.stem_padding,
            in_channels=gated.conv1.in_channels,
            stem_channels=gated.conv1.out_channels,
            base_channels=gated.base_channels,
            gate_reduction=blocks[0].in_channels // gate.fc1.out_channels,
            gate_tau=gate.tau,
            out_indices=tuple(gated.out_indices))
        net = cls(**{k: v for k, v in kwargs.items() if k != 'type'})
        net.conv1.load_state_dict(gated.conv1.state_dict())
        net.bn1.load_state_dict(gated.norm1.state_dict())
        for src, dst, kept, dep in zip(blocks, net.blocks(), keep,
                                       dependent):
            bn1 = src.bn1_gated if src.separate_bn else src.norm1
            bn2 = src.bn2_gated if src.separate_bn else src.norm2
            dst.bn2.load_state_dict(bn2.state_dict())
            if src.downsample is not None:
                dst.downsample.load_state_dict(src.downsample.state_dict())
            if not kept.numel():
                continue
            dst.conv1.weight.data.copy_(src.conv1.weight.data[kept])
            dst.conv2.weight.data.copy_(src.conv2.weight.data[:, kept])
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                getattr(dst.bn1, name).data.copy_(
                    getattr(bn1, name).data[kept])
            dst.bn1.num_batches_tracked.copy_(bn1.num_batches_tracked)
            if dst.gate is not None:
                rows = kept[dep]
                dst.gate.fc1.load_state_dict(src.gate.fc1.state_dict())
                dst.gate.bn.load_state_dict(src.gate.bn.state_dict())
                dst.gate.fc2.weight.data.copy_(
                    src.gate.fc2.weight.data[rows])
        return net.eval(), kwargs
