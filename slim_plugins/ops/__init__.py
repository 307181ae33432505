# Copyright (c) slim_plugins contributors. All rights reserved.
"""Slimmable primitives and the width state they read.

Where a width is *applied*: :func:`set_width` / :func:`using_width` set the
one :class:`WidthState` of a model; the ops below read it in ``forward``.
A gated network's path (dense or gated) is state the same way
(:func:`set_gate_path` / :func:`using_gate_path`).
"""
from .channels import (CHANNEL_RULES, get_channel_rule, int_channels,
                       make_divisible_channels)
from .gate_path import (GATE_PATHS, GatedMixin, GatePathState, check_gate_path,
                        gated_modules, get_gate_path, set_gate_path,
                        share_gate_path, using_gate_path)
from .slicing import in_place_slice_grads, in_place_slice_grads_enabled
from .slim_bn import SlimBatchNorm1d, SlimBatchNorm2d
from .slim_conv import SlimConv2d
from .slim_linear import SlimLinear
from .switchable_bn import (SwitchableBatchNorm1d, SwitchableBatchNorm2d,
                            width_key)
from .sync_slim_bn import (AllGatherSyncBatchNorm, SyncSlimBatchNorm1d,
                           SyncSlimBatchNorm2d, SyncSwitchableBatchNorm1d,
                           SyncSwitchableBatchNorm2d)
from .width_state import (SlimMixin, WidthState, get_width, set_width,
                          share_width_state, slim_ops, using_width)

__all__ = [
    'CHANNEL_RULES', 'get_channel_rule', 'int_channels',
    'make_divisible_channels', 'SlimBatchNorm1d', 'SlimBatchNorm2d',
    'SlimConv2d', 'SlimLinear', 'in_place_slice_grads',
    'in_place_slice_grads_enabled', 'SwitchableBatchNorm1d',
    'SwitchableBatchNorm2d', 'width_key', 'SlimMixin', 'WidthState',
    'get_width', 'set_width', 'share_width_state', 'slim_ops', 'using_width',
    'AllGatherSyncBatchNorm', 'SyncSlimBatchNorm1d', 'SyncSlimBatchNorm2d',
    'SyncSwitchableBatchNorm1d', 'SyncSwitchableBatchNorm2d', 'GATE_PATHS',
    'GatedMixin', 'GatePathState', 'check_gate_path', 'gated_modules',
    'get_gate_path', 'set_gate_path', 'share_gate_path', 'using_gate_path'
]
