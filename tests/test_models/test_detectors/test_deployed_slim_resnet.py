# Copyright (c) slim_plugins contributors. All rights reserved.
"""DeployedSlimResNet: the static backbone of one width, strict loading."""
import pytest
import torch
import torch.nn as nn

from slim_plugins.models.backbones import (DeployedSlimResNet, SlimResNet,
                                           width_channel_table)
from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils import subnet_state_dict

WIDTHS = (1.0, 0.75, 0.5, 0.3, 0.25)


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('rule', ['divisible8', 'int'])
def test_channel_table_equals_slim_resnet(depth, rule):
    with torch.device('meta'):
        slim = SlimResNet(
            depth, stem='imagenet', stem_channels=24, base_channels=40,
            channel_rule=rule)
    for width in WIDTHS:
        assert width_channel_table(depth, width, rule, 24,
                                   40) == slim.channel_table(width)


def test_resnet50_table_by_hand():
    # ResNet-50 at 0.25 (SlimCLR rule int(C * w)): stem 16, stages
    # 64/128/256/512 out, 16/32/64/128 mid.
    table = width_channel_table(50, 0.25, 'int')
    assert table.stem == 16
    assert table.mid == (16, 32, 64, 128)
    assert table.out == (64, 128, 256, 512)


def _slim_net():
    torch.manual_seed(0)
    net = SlimResNet(18, stem='imagenet', stem_channels=16, base_channels=16,
                     out_indices=(0, 1, 2, 3))
    net.train()
    with using_width(net, 0.5), torch.no_grad():
        net(torch.randn(4, 3, 32, 32))
    return net.eval()


def test_equals_slim_resnet_at_width():
    slim = _slim_net()
    net = MODELS.build(
        dict(type='DeployedSlimResNet', depth=18, width=0.5,
             stem_channels=16, base_channels=16)).eval()
    net.load_state_dict(subnet_state_dict(slim, 0.5), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), using_width(slim, 0.5):
        expected = slim(x)
    outs = net(x)
    assert net.out_channels == (8, 16, 32, 64)
    assert [o.shape[1] for o in outs] == list(net.out_channels)
    for out, ref in zip(outs, expected):
        assert torch.allclose(out, ref, atol=1e-5)


def test_norm_cfg_syncbn_keeps_keys():
    bn = DeployedSlimResNet(18, 0.5, stem_channels=16, base_channels=16)
    sync = DeployedSlimResNet(
        18, 0.5, stem_channels=16, base_channels=16,
        norm_cfg=dict(type='SyncBN', requires_grad=True))
    assert isinstance(sync.bn1, nn.SyncBatchNorm)
    assert sync.state_dict().keys() == bn.state_dict().keys()
    frozen = DeployedSlimResNet(
        18, 0.5, stem_channels=16, base_channels=16,
        norm_cfg=dict(type='BN', requires_grad=False))
    assert not frozen.bn1.weight.requires_grad


def _save(path, state):
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in state.items()}}, path)


def test_pretrained_is_strict(tmp_path):
    slim = _slim_net()
    ckpt = str(tmp_path / 'w0.5.pth')
    _save(ckpt, subnet_state_dict(slim, 0.5))
    init_cfg = dict(type='Pretrained', checkpoint=ckpt, prefix='backbone.')

    net = DeployedSlimResNet(18, 0.5, stem_channels=16, base_channels=16,
                             init_cfg=init_cfg)
    net.init_weights()
    expected = subnet_state_dict(slim, 0.5)
    for key, value in net.state_dict().items():
        assert torch.equal(value, expected[key]), key

    # Another width: mmengine would only log; we stop and list the keys.
    wrong = DeployedSlimResNet(18, 0.25, stem_channels=16, base_channels=16,
                               init_cfg=init_cfg)
    with pytest.raises(ValueError, match='shape mismatch') as error:
        wrong.init_weights()
    # 0.25 and 0.5 share the 8-channel stem/stage 1 (divisible-by-8 rule).
    assert 'layer2.0.conv1.weight: (16, 8, 3, 3) in' in str(error.value)

    state = subnet_state_dict(slim, 0.5)
    del state['layer4.1.bn2.running_var']
    state['fc.weight'] = torch.zeros(3, 64)
    _save(ckpt, state)
    net = DeployedSlimResNet(18, 0.5, stem_channels=16, base_channels=16,
                             init_cfg=init_cfg)
    with pytest.raises(ValueError) as error:
        net.init_weights()
    assert 'layer4.1.bn2.running_var' in str(error.value)
    assert 'fc.weight' in str(error.value)


def test_missing_checkpoint_and_bad_width():
    net = DeployedSlimResNet(
        18, 1.0, init_cfg=dict(type='Pretrained', checkpoint=None))
    with pytest.raises(ValueError, match='init_cfg.checkpoint'):
        net.init_weights()
    with pytest.raises(ValueError, match=r'width=1\.5'):
        DeployedSlimResNet(18, 1.5)
