# Copyright (c) slim_plugins contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn

from slim_plugins.models.backbones import NarrowResNet, SlimResNet
from slim_plugins.models.utils import export_subnet, mmpretrain_config
from slim_plugins.ops import using_width
from slim_plugins.utils import load_state_dict_strict, subnet_state_dict
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               calibrate_bn, needs_calibration,
                                               preserved_bn_buffers)


def _train_a_little(net, x, width, steps=3):
    net.train()
    with using_width(net, width):
        for i in range(steps):
            net(x * (i + 1) + i)


def _assert_exported_equals_sliced(net, x, width):
    _train_a_little(net, x, width)
    if needs_calibration(net):
        # Shared BN: the width's statistics come from calibration.
        calibrate_bn(net, [x * 3 + 1, x], net, [width], num_batches=2)
    net.eval()
    with using_width(net, width), preserved_bn_buffers(net), \
            torch.no_grad():
        if needs_calibration(net):
            apply_calibrated_stats(net, width)
        sliced = net(x)
    narrow = export_subnet(net, width)
    assert isinstance(narrow, NarrowResNet) and not narrow.training
    assert not any(isinstance(m, SlimResNet) for m in narrow.modules())
    with torch.no_grad():
        exported = narrow(x)
    assert len(sliced) == len(exported)
    for a, b in zip(sliced, exported):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)
    # BN statistics really are non-trivial and were copied
    assert narrow.bn1.num_batches_tracked.item() > 0
    return narrow


@pytest.mark.parametrize('width', [1.0, 0.75, 0.5, 0.25, 0.3])
def test_cifar_resnet18_universal(width):
    torch.manual_seed(0)
    net = SlimResNet(18, out_indices=(0, 1, 2, 3))
    narrow = _assert_exported_equals_sliced(net, torch.randn(2, 3, 32, 32),
                                            width)
    assert narrow.channels.out == net.active_channels(width)


@pytest.mark.parametrize('width', [1.0, 0.75, 0.5, 0.25, 0.3])
def test_imagenet_resnet50_universal(width):
    torch.manual_seed(0)
    net = SlimResNet(50, stem='imagenet', out_indices=(1, 3))
    _assert_exported_equals_sliced(net, torch.randn(2, 3, 64, 64), width)


@pytest.mark.parametrize('depth,stem', [(18, 'cifar'), (50, 'imagenet')])
def test_switchable_exports_that_widths_bn(depth, stem):
    torch.manual_seed(0)
    net = SlimResNet(depth, stem=stem, width_mode='switchable',
                     channel_rule='int')
    x = torch.randn(2, 3, 32, 32)
    for width in net.width_state.widths:
        _assert_exported_equals_sliced(net, x, width)
    narrow = export_subnet(net, 0.5)
    assert torch.equal(narrow.bn1.running_mean,
                       net.bn1.switch_bns['0_5'].running_mean)


def test_shared_bn_needs_the_widths_calibration():
    torch.manual_seed(0)
    net = SlimResNet(18, base_channels=16, stem_channels=16)
    x = torch.randn(2, 3, 16, 16)
    _train_a_little(net, x, 1.0)
    _train_a_little(net, x, 0.5)
    # The running statistics mix both widths: never exported silently.
    with pytest.raises(ValueError, match='no calibrated BN statistics'):
        export_subnet(net, 0.5)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    calibrate_bn(net, [x], net, [0.5], num_batches=1)
    narrow = export_subnet(net, 0.5)
    bank = net.bn_calibration.load(0.5)
    assert torch.equal(narrow.layer1[0].bn1.running_mean,
                       bank['layer1.0.bn1']['running_mean'])
    # The slim network's own buffers are left as they were.
    for key, value in before.items():
        assert torch.equal(net.state_dict()[key], value), key


def test_untracked_bn_and_independent_copies():
    net = SlimResNet(18, base_channels=16, stem_channels=16,
                     track_running_stats=False)
    x = torch.randn(2, 3, 16, 16)
    net.eval()
    with using_width(net, 0.5):
        sliced = net(x)[0]
    narrow = export_subnet(net, 0.5)
    assert not narrow.track_running_stats
    assert torch.allclose(narrow(x)[0], sliced, atol=1e-5)
    narrow.conv1.weight.data.zero_()
    assert net.conv1.weight.abs().sum() > 0


def test_export_from_a_model_with_backbone():
    model = nn.Module()
    model.backbone = SlimResNet(
        18, base_channels=16, stem_channels=16, track_running_stats=False)
    model.head = nn.Linear(2, 2)
    assert export_subnet(model, 0.5).channels.out == (8, 16, 32, 64)
    state = subnet_state_dict(model, 0.5)
    assert state['backbone.conv1.weight'].shape == (8, 3, 3, 3)
    assert state['head.weight'].shape == (2, 2)
    with pytest.raises(TypeError, match='SlimResNet'):
        export_subnet(nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match='width_range'):
        export_subnet(model, 0.1)


def test_mmpretrain_config_helper():
    net = SlimResNet(50, stem='imagenet')
    cfg = mmpretrain_config(net, 0.5)
    assert cfg['type'] == 'ResNet'
    assert cfg['base_channels'] == 32 and cfg['stem_channels'] == 32
    assert mmpretrain_config(net, 0.3) is None
    assert mmpretrain_config(SlimResNet(18), 0.75)['type'] == 'ResNet_CIFAR'


def test_strict_loading_lists_mismatches():
    net = SlimResNet(18, base_channels=8, stem_channels=8)
    state = SlimResNet(18, base_channels=16, stem_channels=16).state_dict()
    with pytest.raises(ValueError, match=r'conv1.weight: \(16, 3, 3, 3\)'):
        load_state_dict_strict(net, state)
    state = net.state_dict()
    state.pop('bn1.weight')
    state['fc.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys: \['bn1.weight'\]"):
        load_state_dict_strict(net, state)
