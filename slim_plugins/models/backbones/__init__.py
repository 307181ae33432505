# Copyright (c) slim_plugins contributors. All rights reserved.
from .deployed_slim_resnet import DeployedSlimResNet, width_channel_table
from .gated_resnet import GatedBasicBlock, GatedResNet, GateStats
from .narrow_resnet import NarrowResNet
from .pruned_gated_resnet import PrunedGatedBlock, PrunedGatedResNet
from .resnet_base import ResNetChannels
from .slim_resnet import SlimResNet
from .small_kernel_resnet import SmallKernelResNet

__all__ = [
    'DeployedSlimResNet', 'GatedBasicBlock', 'GatedResNet', 'GateStats',
    'NarrowResNet', 'PrunedGatedBlock', 'PrunedGatedResNet',
    'ResNetChannels', 'SlimResNet', 'SmallKernelResNet',
    'width_channel_table'
]
