# Copyright (c) slim_plugins contributors. All rights reserved.
from .narrow_resnet import NarrowResNet
from .resnet_base import ResNetChannels
from .slim_resnet import SlimResNet

__all__ = ['NarrowResNet', 'ResNetChannels', 'SlimResNet']
