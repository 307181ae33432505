# Copyright (c) slim_plugins contributors. All rights reserved.
"""ResNet whose blocks gate their intermediate channels per input."""
import copy
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model.weight_init import constant_init
from mmpretrain.models.backbones import ResNet
from mmpretrain.models.backbones.resnet import BasicBlock, ResLayer

from slim_plugins.ops import (GatedMixin, check_gate_path, set_gate_path,
                              share_gate_path)
from slim_plugins.registry import MODELS
from ..utils.channel_gate import ChannelGate
from .resnet_base import check_stem, stage_outputs


def conv_block_macs(active: torch.Tensor, hw: Tuple[int, int],
                    in_channels: int, out_channels: int,
                    downsample: bool) -> torch.Tensor:
    """MACs of a BasicBlock with ``active`` intermediate channels.

    ``9 H W c (C_in + C_out)`` for the two 3x3 convolutions plus
    ``H W C_in C_out`` for a 1x1 downsample (``H x W`` the output).

    Args:
        active (Tensor): Active channels ``c`` (any shape).
        hw (tuple[int, int]): Output resolution.
        in_channels (int): ``C_in``.
        out_channels (int): ``C_out``.
        downsample (bool): Whether the shortcut is a 1x1 convolution.

    Returns:
        Tensor: MACs, the shape of ``active``.
    """
    area = hw[0] * hw[1]
    macs = 9 * area * active * (in_channels + out_channels)
    if downsample:
        macs = macs + area * in_channels * out_channels
    return macs


class GateStats(NamedTuple):
    """What the last gated forward of a :class:`GatedResNet` did.

    Args:
        masks (list[Tensor]): Each block's ``N x C_mid`` mask, in block
            order (they carry the gates' straight-through gradients).
        macs (Tensor): ``N`` per-sample MACs: stem, every block at its
            active channels, every gate (differentiable through the masks).
        dense_macs (float): MACs of the dense path (stem and blocks, no
            gates).
    """
    masks: List[torch.Tensor]
    macs: torch.Tensor
    dense_macs: float

    @property
    def ratio(self) -> torch.Tensor:
        """``r``: batch-mean MACs over dense MACs."""
        return self.macs.mean() / self.dense_macs

    @property
    def densities(self) -> torch.Tensor:
        """``L`` block densities ``rho_l``: batch-mean fraction of active
        channels."""
        return torch.stack([m.mean() for m in self.masks])


class GatedStagesMixin:
    """The forward, block list and stem cost shared by :class:`GatedResNet`
    and :class:`~slim_plugins.models.backbones.PrunedGatedResNet`.

    The class has ``conv1``, ``norm1``, ``relu``, ``maxpool`` (ImageNet
    stem), ``stem`` (``'cifar'`` / ``'imagenet'``), ``res_layers`` and
    ``out_indices``.
    """

    def blocks(self) -> List[nn.Module]:
        """The blocks, in forward order."""
        return [
            block for name in self.res_layers
            for block in getattr(self, name)
        ]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.relu(self.norm1(self.conv1(x)))
        self._stem_hw = tuple(x.shape[-2:])
        if self.stem == 'imagenet':
            x = self.maxpool(x)
        return stage_outputs(self, x)

    def stem_macs(self) -> int:
        """MACs of the stem conv at the last input's resolution."""
        if getattr(self, '_stem_hw', None) is None:
            raise RuntimeError(f'{type(self).__name__}: run a forward first; '
                               f'the MACs depend on the input size.')
        kernel = self.conv1.kernel_size
        return (kernel[0] * kernel[1] * self._stem_hw[0] * self._stem_hw[1] *
                self.conv1.in_channels * self.conv1.out_channels)


class GatedBasicBlock(GatedMixin, BasicBlock):
    """mmpretrain's BasicBlock with a channel gate on its conv1 output.

    On the ``'gated'`` path, ``ReLU(BN1(conv1(x)))`` is multiplied by the
    per-sample mask of a :class:`~slim_plugins.models.utils.ChannelGate`
    reading the block input; on the ``'dense'`` path the block is
    mmpretrain's (same parameter names, so dense checkpoints load). With
    ``separate_bn`` the gated path normalises with its own copies
    ``bn1_gated`` / ``bn2_gated``; the downsample BN stays shared.

    Args:
        separate_bn (bool): One BN1/BN2 copy per path. Defaults to True.
        gate_reduction (int): The gate's hidden divisor. Defaults to 4.
        gate_tau (float): The gate's temperature. Defaults to 0.66667.
        **kwargs: mmpretrain ``BasicBlock`` arguments.
    """

    def __init__(self,
                 *args,
                 separate_bn: bool = True,
                 gate_reduction: int = 4,
                 gate_tau: float = 0.66667,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.with_cp:
            raise ValueError('GatedBasicBlock: with_cp=True is not '
                             'supported (the gate records its mask).')
        self._init_gate_path()
        self.separate_bn = separate_bn
        self.gate = ChannelGate(
            self.in_channels,
            self.mid_channels,
            reduction=gate_reduction,
            tau=gate_tau)
        if separate_bn:
            self.bn1_gated = build_norm_layer(self.norm_cfg,
                                              self.mid_channels)[1]
            self.bn2_gated = build_norm_layer(self.norm_cfg,
                                              self.out_channels)[1]
        self.last_mask: Optional[torch.Tensor] = None
        self.last_hw: Optional[Tuple[int, int]] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated = self.gate_path == 'gated'
        bn1, bn2 = ((self.bn1_gated, self.bn2_gated)
                    if gated and self.separate_bn else
                    (self.norm1, self.norm2))
        out = self.relu(bn1(self.conv1(x)))
        if gated:
            mask = self.gate(x)
            out = out * mask[:, :, None, None]
            self.last_mask = mask
        else:
            self.last_mask = None
        self.last_hw = tuple(out.shape[-2:])
        out = bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        out = self.drop_path(out) + identity
        return self.relu(out)

    def macs(self, active: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """MACs of the block with ``active`` intermediate channels at
        output resolution ``hw`` (:func:`conv_block_macs`)."""
        return conv_block_macs(active, hw, self.in_channels,
                               self.out_channels, self.downsample is not None)


@MODELS.register_module()
class GatedResNet(GatedStagesMixin, ResNet):
    """ResNet-18/34 whose blocks gate channels per input: dense and gated
    paths through the same weights.

    The backbone of `Unification (Krishna et al., BMVC 2023)
    <https://arxiv.org/abs/2301.09164>`_. Every BasicBlock has a
    :class:`~slim_plugins.models.utils.ChannelGate`; the path is model state
    (:func:`~slim_plugins.ops.using_gate_path`), ``'dense'`` by default. On
    the dense path the network *is* mmpretrain's ``ResNet`` (ImageNet stem)
    or ``ResNet_CIFAR`` (CIFAR stem): the same parameter names, so
    :meth:`load_dense_state_dict` initialises it from such a checkpoint and
    :meth:`dense_state_dict` exports to one. After a gated forward,
    :meth:`gate_stats` gives the masks and per-sample MACs (the FLOPs model
    of the paper: conv MACs of the active channels, gates, stem; no fc).

    Args:
        depth (int): 18 or 34.
        stem (str): ``'cifar'`` (3x3 stride-1 conv, no max-pool) or
            ``'imagenet'`` (7x7/2 conv + max-pool). Defaults to ``'cifar'``.
        stem_padding (int, optional): Padding of the stem conv. Defaults to
            1 (CIFAR) / 3 (ImageNet). The original's CIFAR stem uses **2**
            (34x34 first stage, dense 7.03E8 MACs on 32x32); the default 1
            (32x32, 5.55E8) is the usual ResNet and gives numbers **not
            comparable** with the paper's. Exports to mmpretrain need the
            default.
        separate_bn (bool): BN1/BN2 copies per path in every block (the
            paper). Defaults to True.
        gate_reduction (int): Defaults to 4.
        gate_tau (float): Gate temperature. Defaults to 0.66667.
        zero_init_residual (bool): Zero the last BN of each block (both
            copies with ``separate_bn``; the original crashes there).
            Defaults to False (the paper).
        path (str): The path the network starts on, ``'dense'`` or
            ``'gated'``: the config key that picks the path a linear probe
            or a kNN evaluation uses. Defaults to ``'dense'``.
        **kwargs: Other mmpretrain ``ResNet`` arguments.
    """

    arch_settings = {
        18: (GatedBasicBlock, (2, 2, 2, 2)),
        34: (GatedBasicBlock, (3, 4, 6, 3)),
    }

    def __init__(self,
                 depth: int,
                 stem: str = 'cifar',
                 stem_padding: Optional[int] = None,
                 separate_bn: bool = True,
                 gate_reduction: int = 4,
                 gate_tau: float = 0.66667,
                 zero_init_residual: bool = False,
                 path: str = 'dense',
                 **kwargs) -> None:
        check_gate_path(path, 'GatedResNet')
        if depth not in self.arch_settings:
            raise ValueError(f'GatedResNet: depth={depth} is not supported; '
                             f'choose one of {sorted(self.arch_settings)} '
                             f'(BasicBlock ResNets).')
        stem_padding = check_stem(stem, stem_padding)
        if kwargs.get('deep_stem', False):
            raise ValueError('GatedResNet: deep_stem is not supported.')
        if isinstance(gate_tau, bool) or not isinstance(
                gate_tau, (int, float)) or gate_tau <= 0:
            raise ValueError(f'GatedResNet: gate_tau={gate_tau!r} must be a '
                             f'number > 0.')
        # Read by _make_stem_layer / make_res_layer, which ResNet.__init__
        # calls.
        self.stem = stem
        self.stem_padding = stem_padding
        self.separate_bn = separate_bn
        self._block_kwargs = dict(
            separate_bn=separate_bn,
            gate_reduction=gate_reduction,
            gate_tau=gate_tau)
        super().__init__(
            depth, zero_init_residual=zero_init_residual, **kwargs)
        share_gate_path(self)
        set_gate_path(self, path)
        self._stem_hw: Optional[Tuple[int, int]] = None

    def make_res_layer(self, **kwargs) -> nn.Module:
        return ResLayer(**kwargs, **self._block_kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        kernel = 3 if self.stem == 'cifar' else 7
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            in_channels,
            stem_channels,
            kernel_size=kernel,
            stride=1 if self.stem == 'cifar' else 2,
            padding=self.stem_padding,
            bias=False)
        self.norm1_name, norm1 = build_norm_layer(
            self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        if self.stem == 'imagenet':
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def init_weights(self) -> None:
        """Initialise; a ``Pretrained`` ``init_cfg`` loads strictly.

        A checkpoint of a GatedResNet loads as it is; a plain ResNet's
        (dense) one initialises the dense path and the gated BN copies
        (:meth:`load_dense_state_dict`). Either way, keys or shapes that do
        not fit stop here with the names of the offending keys.
        """
        pretrained = isinstance(self.init_cfg, dict) and \
            self.init_cfg.get('type') == 'Pretrained'
        if not pretrained:
            super().init_weights()
            if self.zero_init_residual and self.separate_bn:
                for block in self.blocks():
                    constant_init(block.bn2_gated, 0)
            return
        from slim_plugins.utils import (load_checkpoint_file,
                                        load_state_dict_strict, strip_prefix)
        path = self.init_cfg.get('checkpoint')
        # Gates and BNs get their usual initialisation first: a dense
        # checkpoint leaves the gates as they are.
        init_cfg, self.init_cfg = self.init_cfg, [
            dict(type='Kaiming', layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm'])
        ]
        try:
            super().init_weights()
        finally:
            self.init_cfg = init_cfg
        state = load_checkpoint_file(path)
        state = state.get('state_dict', state)
        prefix = init_cfg.get('prefix')
        if prefix:
            state = strip_prefix(state, prefix.rstrip('.') + '.')
        if any(not self._dense_key(k) for k in state):
            load_state_dict_strict(self, state, source=path)
        else:
            self.load_dense_state_dict(state)

    def train(self, mode: bool = True) -> 'GatedResNet':
        # mmpretrain's ResNet.train returns None; nn.Module's returns self.
        super().train(mode)
        return self

    # ------------------------------------------------------------------
    # the FLOPs model
    # ------------------------------------------------------------------
    def dense_macs(self) -> int:
        """MACs of the dense path at the last input's resolution."""
        blocks = self.blocks()
        if any(b.last_hw is None for b in blocks):
            raise RuntimeError('GatedResNet: run a forward first; the MACs '
                               'depend on the input size.')
        return self.stem_macs() + sum(
            int(b.macs(torch.tensor(b.mid_channels), b.last_hw))
            for b in blocks)

    def gate_macs(self) -> int:
        """MACs of all the gates."""
        return sum(b.gate.macs() for b in self.blocks())

    def gate_stats(self) -> GateStats:
        """Masks and per-sample MACs of the last (gated) forward.

        Returns:
            GateStats: Masks, ``N`` per-sample MACs and the dense MACs.
        """
        blocks = self.blocks()
        masks = [b.last_mask for b in blocks]
        if any(m is None for m in masks):
            raise RuntimeError('GatedResNet.gate_stats: the last forward '
                               'did not run the gated path; run it inside '
                               "using_gate_path(model, 'gated').")
        macs = sum(
            b.macs(m.sum(dim=1), b.last_hw) for b, m in zip(blocks, masks))
        macs = macs + self.gate_macs() + self.stem_macs()
        return GateStats(masks, macs, float(self.dense_macs()))

    # ------------------------------------------------------------------
    # the dense path as a plain mmpretrain ResNet
    # ------------------------------------------------------------------
    def _dense_key(self, key: str) -> bool:
        parts = key.split('.')
        return not any(p == 'gate' or p.endswith('_gated') for p in parts)

    def dense_state_dict(self) -> Dict[str, torch.Tensor]:
        """The dense path's tensors under mmpretrain ``ResNet`` /
        ``ResNet_CIFAR`` names (gates and gated BN copies left out)."""
        if self.stem == 'cifar' and self.stem_padding != 1:
            raise ValueError(
                f'GatedResNet: the dense path with stem_padding='
                f'{self.stem_padding} has no mmpretrain equivalent '
                f'(ResNet_CIFAR pads its stem by 1); train with '
                f'stem_padding=1 to export it.')
        return {
            k: v.detach().clone()
            for k, v in self.state_dict().items() if self._dense_key(k)
        }

    def load_dense_state_dict(self, state_dict: Dict[str, torch.Tensor],
                              copy_to_gated_bn: bool = True) -> None:
        """Initialise from a plain ResNet's (dense) state dict.

        Every dense tensor of this network must be in ``state_dict`` with
        the same shape; the gates keep their initialisation and, with
        ``copy_to_gated_bn``, the gated BN copies start as the dense BNs.

        Args:
            state_dict (dict[str, Tensor]): A mmpretrain ``ResNet`` /
                ``ResNet_CIFAR`` backbone state dict (no ``backbone.``
                prefix).
            copy_to_gated_bn (bool): Defaults to True.
        """
        own = {k: v for k, v in self.state_dict().items()
               if self._dense_key(k)}
        missing = sorted(set(own) - set(state_dict))
        unexpected = sorted(set(state_dict) - set(own))
        wrong = sorted(k for k in set(own) & set(state_dict)
                       if tuple(own[k].shape) != tuple(state_dict[k].shape))
        if missing or unexpected or wrong:
            details = [
                f'{name}: {keys[:5]}{" ..." if len(keys) > 5 else ""}'
                for name, keys in (('missing', missing), ('unexpected',
                                                          unexpected),
                                   ('shape mismatch', wrong)) if keys
            ]
            raise ValueError('GatedResNet.load_dense_state_dict: the '
                             'checkpoint does not fit the dense path (' +
                             '; '.join(details) + ').')
        self.load_state_dict(state_dict, strict=False)
        if copy_to_gated_bn and self.separate_bn:
            for block in self.blocks():
                block.bn1_gated.load_state_dict(
                    copy.deepcopy(block.norm1.state_dict()))
                block.bn2_gated.load_state_dict(
                    copy.deepcopy(block.norm2.state_dict()))
