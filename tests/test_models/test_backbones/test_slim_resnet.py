# Copyright (c) slim_plugins contributors. All rights reserved.
import pytest
import torch
from mmpretrain.models import ResNet, ResNet_CIFAR
from torch.nn.modules.batchnorm import _BatchNorm

from slim_plugins.models.backbones import ResNetChannels, SlimResNet
from slim_plugins.ops import (SlimBatchNorm2d, SwitchableBatchNorm2d,
                              using_width)
from slim_plugins.registry import MODELS


def test_channel_tables_of_both_rules():
    r18 = SlimResNet(18)
    assert r18.active_channels(0.3) == (24, 40, 80, 152)
    assert r18.channel_table(0.3) == ResNetChannels(24, (24, 40, 80, 152),
                                                    (24, 40, 80, 152))
    r50 = SlimResNet(50, stem='imagenet')
    assert r50.channel_table(0.3) == ResNetChannels(
        24, (24, 40, 80, 152), (80, 152, 304, 616))
    for width, out in [(1.0, 2048), (0.75, 1536), (0.5, 1024), (0.25, 512)]:
        assert r50.active_channels(width)[-1] == out
    slimclr = SlimResNet(
        50, stem='imagenet', width_mode='switchable', channel_rule='int')
    assert slimclr.channel_table(0.75) == ResNetChannels(
        48, (48, 96, 192, 384), (192, 384, 768, 1536))
    universal_int = SlimResNet(50, channel_rule='int')
    # SlimCLR: stem int(64w), out int(4*f*w), mid out // 4
    assert universal_int.channel_table(0.3) == ResNetChannels(
        19, (19, 38, 76, 153), (76, 153, 307, 614))


def test_forward_shapes_follow_table_and_registry():
    net = MODELS.build(
        dict(type='SlimResNet', depth=18, base_channels=16,
             stem_channels=16, out_indices=(0, 1, 2, 3)))
    x = torch.randn(2, 3, 16, 16)
    for width in (1.0, 0.5, 0.3, 0.25):
        with using_width(net, width):
            outs = net(x)
        assert tuple(o.shape[1] for o in outs) == net.active_channels(width)
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    assert net.width == 1.0


def test_imagenet_stem_and_padding():
    x = torch.randn(1, 3, 64, 64)
    assert SlimResNet(18, stem='imagenet')(x)[0].shape == (1, 512, 2, 2)
    unification = SlimResNet(18, stem_padding=2, base_channels=8,
                             stem_channels=8, out_indices=(0, ))
    assert unification(torch.randn(1, 3, 32, 32))[0].shape[-1] == 34


def _equal_outputs(a, b, x):
    a.eval()
    b.eval()
    with torch.no_grad():
        return all(
            torch.allclose(p, q, atol=1e-5) for p, q in zip(a(x), b(x)))


@pytest.mark.parametrize('width_mode', ['universal', 'switchable'])
def test_mmpretrain_interop_cifar(width_mode):
    torch.manual_seed(0)
    slim = SlimResNet(18, width_mode=width_mode, out_indices=(1, 3))
    plain = ResNet_CIFAR(18, out_indices=(1, 3))
    x = torch.randn(2, 3, 32, 32)
    slim.train()
    slim(x)  # non-trivial BN statistics
    # slim -> mmpretrain (switchable: the extra widths' BNs are dropped)
    state = {
        k: v
        for k, v in slim.state_dict().items() if 'switch_bns' not in k
    }
    plain.load_state_dict(state, strict=True)
    assert _equal_outputs(slim, plain, x)
    # mmpretrain -> slim, strict even for switchable BN
    plain.train()
    plain(x * 2)
    slim.load_state_dict(plain.state_dict(), strict=True)
    assert _equal_outputs(slim, plain, x)
    if width_mode == 'universal':
        assert set(slim.state_dict()) == set(plain.state_dict())


def test_mmpretrain_interop_imagenet_r50():
    slim = SlimResNet(50, stem='imagenet')
    plain = ResNet(50)
    plain.train()
    assert set(slim.state_dict()) == set(plain.state_dict())
    plain.init_weights()
    slim.load_state_dict(plain.state_dict(), strict=True)
    assert _equal_outputs(slim, plain, torch.randn(1, 3, 64, 64))


def test_gradients_reach_only_active_slices():
    net = SlimResNet(18, base_channels=16, stem_channels=16)
    net.set_width(0.5)
    net(torch.randn(2, 3, 16, 16))[0].sum().backward()
    conv = net.layer2[0].conv1  # 16 -> 32 channels, active 8 -> 16
    assert conv.weight.grad[:16, :8].abs().sum() > 0
    assert conv.weight.grad[16:].abs().sum() == 0
    assert conv.weight.grad[:, 8:].abs().sum() == 0
    assert net.conv1.weight.grad[8:].abs().sum() == 0
    assert net.bn1.weight.grad[8:].abs().sum() == 0


def test_frozen_stages_and_norm_eval():
    net = SlimResNet(18, base_channels=8, stem_channels=8, frozen_stages=2,
                     norm_eval=True)
    net.train()
    assert not net.conv1.weight.requires_grad
    assert not net.bn1.training
    assert all(not p.requires_grad for p in net.layer2.parameters())
    assert not net.layer2.training and net.layer3.training
    assert all(p.requires_grad for p in net.layer3.parameters())
    assert all(not m.training for m in net.modules()
               if isinstance(m, _BatchNorm))
    net = SlimResNet(18, base_channels=8, stem_channels=8, frozen_stages=1)
    net.train()
    assert not net.layer1[0].bn1.training and net.layer2[0].bn1.training


def test_zero_init_residual_every_width():
    net = SlimResNet(50, width_mode='switchable', zero_init_residual=True)
    net.init_weights()
    bn3 = net.layer1[0].bn3
    assert isinstance(bn3, SwitchableBatchNorm2d)
    assert bn3.weight.abs().sum() == 0
    assert all(bn.weight.abs().sum() == 0 for bn in bn3.switch_bns.values())
    assert net.layer1[0].bn1.weight.abs().sum() > 0


def test_track_running_stats_off():
    net = SlimResNet(
        18, base_channels=8, stem_channels=8, track_running_stats=False)
    assert isinstance(net.bn1, SlimBatchNorm2d)
    assert not any('running' in k for k in net.state_dict())
    net.eval()
    out = net.bn1(torch.randn(4, 8, 2, 2) * 3)
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(8), atol=1e-5)


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=20), r'depth=20 .* allowed: \[18, 34, 50, 101, 152\]'),
    (dict(depth=18, stem='tiny'), r"stem='tiny' .* \['cifar', 'imagenet'\]"),
    (dict(depth=18, width_mode='dynamic'), "width_mode='dynamic'"),
    (dict(depth=18, channel_rule='round'), "channel_rule='round'"),
    (dict(depth=18, width_range=(0.0, 1.0)), 'width_range'),
    (dict(depth=18, widths=[1.0, 1.0], width_mode='switchable'), 'distinct'),
    (dict(depth=18, out_indices=(4, )), 'out_indices'),
    (dict(depth=18, frozen_stages=5), 'frozen_stages=5'),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SlimResNet(**kwargs)


def test_bad_widths():
    net = SlimResNet(18, base_channels=8)
    with pytest.raises(ValueError, match=r'width=0.1 .*\(0.25, 1.0\)'):
        net.set_width(0.1)
    with pytest.raises(ValueError, match=r'\(0, 1\]'):
        net.set_width(-1)
    switchable = SlimResNet(18, base_channels=8, width_mode='switchable')
    with pytest.raises(ValueError, match=r'0.3 .*\[1.0, 0.75, 0.5, 0.25\]'):
        switchable.set_width(0.3)
    with pytest.raises(ValueError, match='0.3'):
        switchable.active_channels(0.3)
