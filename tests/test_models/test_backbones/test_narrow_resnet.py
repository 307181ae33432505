# Copyright (c) slim_plugins contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
from mmpretrain.models import ResNet, ResNet_CIFAR

from slim_plugins.models.backbones import NarrowResNet
from slim_plugins.registry import MODELS


def test_plain_layers_and_shapes():
    net = MODELS.build(
        dict(type='NarrowResNet', depth=18, stem_channels=24,
             mid_channels=(24, 40, 80, 152), out_channels=(24, 40, 80, 152),
             out_indices=(0, 3)))
    assert all(type(m) in (nn.Conv2d, nn.BatchNorm2d) for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)))
    outs = net(torch.randn(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [24, 152]
    assert net.mmpretrain_config() is None


@pytest.mark.parametrize('stem,depth', [('cifar', 18), ('imagenet', 50)])
def test_mmpretrain_config_loads_strictly(stem, depth):
    expansion = 4 if depth == 50 else 1
    net = NarrowResNet(depth, 16, (16, 32, 64, 128),
                       tuple(c * expansion for c in (16, 32, 64, 128)),
                       stem=stem).eval()
    cfg = net.mmpretrain_config()
    assert cfg['base_channels'] == 16 and cfg['stem_channels'] == 16
    kind = cfg.pop('type')
    assert kind == ('ResNet_CIFAR' if stem == 'cifar' else 'ResNet')
    plain = (ResNet_CIFAR if stem == 'cifar' else ResNet)(**cfg)
    plain.eval()  # mmpretrain's ResNet.train() returns None
    plain.load_state_dict(net.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(net(x)[0], plain(x)[0], atol=1e-5)


def test_padding_two_stem_not_expressible():
    net = NarrowResNet(18, 8, (8, 16, 32, 64), (8, 16, 32, 64),
                       stem_padding=2)
    assert net.mmpretrain_config() is None


def test_bad_channels():
    with pytest.raises(ValueError, match='4 entries'):
        NarrowResNet(18, 8, (8, 16, 32), (8, 16, 32))
    with pytest.raises(ValueError, match='positive'):
        NarrowResNet(18, 0, (8, 16, 32, 64), (8, 16, 32, 64))
