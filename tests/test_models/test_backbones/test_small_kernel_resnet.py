# Copyright (c) slim_plugins contributors. All rights reserved.
"""SmallKernelResNet: 3x3 stride-1 stem conv, max-pool kept, mmpretrain's
keys."""
import pytest
import torch
from mmpretrain.models import ResNet

from slim_plugins.models.backbones import SmallKernelResNet


def test_stem_is_3x3_stride_1_and_keeps_the_max_pool():
    net = SmallKernelResNet(depth=18, base_channels=8, stem_channels=8)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    (out, ) = net(torch.randn(2, 3, 32, 32))
    # 32 -> stem 32 -> max-pool 16 -> stages /8 -> 2 (ResNet_CIFAR: 4).
    assert out.shape == (2, 64, 2, 2)
    plain = ResNet(depth=18, base_channels=8, stem_channels=8)
    assert net.state_dict().keys() == plain.state_dict().keys()
    diff = [k for k in plain.state_dict()
            if plain.state_dict()[k].shape != net.state_dict()[k].shape]
    assert diff == ['conv1.weight']


def test_frozen_stem_stays_frozen_and_deep_stem_is_refused():
    net = SmallKernelResNet(depth=18, base_channels=8, stem_channels=8,
                            frozen_stages=1)
    assert not net.conv1.weight.requires_grad
    with pytest.raises(ValueError, match='deep_stem=True contradicts'):
        SmallKernelResNet(depth=18, deep_stem=True)
