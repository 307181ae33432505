# Copyright (c) slim_plugins contributors. All rights reserved.
import os.path as osp

import torch
from conftest import TEST_CONFIGS, run_tool
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.models import ResNet_CIFAR

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               calibrate_bn,
                                               preserved_bn_buffers)

CONFIG = osp.join(TEST_CONFIGS, 'slim_resnet18_cifar_classifier.py')
TOOL = 'tools/model_converters/export_subnet.py'


def _slim_backbone():
    torch.manual_seed(0)
    net = SlimResNet(18, stem_channels=16, base_channels=16)
    net.train()
    for width in (1.0, 0.3, 0.5):
        with using_width(net, width):
            net(torch.randn(4, 3, 16, 16))
    # Shared BN: each exported width needs its calibrated statistics.
    batches = [torch.randn(4, 3, 16, 16) for _ in range(2)]
    calibrate_bn(net, batches, net, [0.5, 0.3], num_batches=2)
    return net.eval()


def _sliced(net, x, width):
    """The slim network at ``width`` with that width's statistics."""
    with using_width(net, width), preserved_bn_buffers(net), \
            torch.no_grad():
        apply_calibrated_stats(net, width)
        return net(x)[0]


def _write_checkpoint(net, path):
    state = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(10, 128)
    torch.save({'state_dict': state}, path)


def test_export_end_to_end(tmp_path):
    net = _slim_backbone()
    ckpt = str(tmp_path / 'slim.pth')
    _write_checkpoint(net, ckpt)
    out = tmp_path / 'out'
    result = run_tool(
        [TOOL, CONFIG, ckpt, '--width', '0.5', '--out-dir',
         str(out)])
    assert 'resnet_w0.5_mmpretrain.pth' in result.stdout
    x = torch.randn(2, 3, 16, 16)
    expected = _sliced(net, x, 0.5)

    # the written config builds a NarrowResNet pre-trained from the file
    cfg = Config.fromfile(str(out / 'narrow_resnet_w0.5.py'))
    assert cfg.model.backbone.type == 'slim_plugins.NarrowResNet'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'
    # the linear head follows the narrow backbone (128 -> 64 features)
    assert cfg.model.head.in_channels == 64
    assert 'head.in_channels: 128 -> 64' in result.stdout
    classifier = MODELS.build(cfg.model)
    classifier.init_weights()
    assert classifier(x, mode='tensor').shape == (2, 10)
    narrow = MODELS.build(cfg.model.backbone)
    narrow.init_weights()
    narrow.eval()
    with torch.no_grad():
        assert torch.allclose(narrow(x)[0], expected, atol=1e-5)
    meta = torch.load(str(out / 'narrow_resnet_w0.5.pth'),
                      weights_only=True)['meta']
    assert meta['width'] == 0.5 and meta['channel_rule'] == 'divisible8'

    # vanilla mmpretrain loads the mmpretrain file strictly
    plain = ResNet_CIFAR(18, stem_channels=8, base_channels=8)
    load_checkpoint(plain, str(out / 'resnet_w0.5_mmpretrain.pth'),
                    strict=True, revise_keys=[(r'^backbone\.', '')])
    plain.eval()
    with torch.no_grad():
        assert torch.allclose(plain(x)[0], expected, atol=1e-5)


def test_width_not_expressible_in_mmpretrain(tmp_path):
    ckpt = str(tmp_path / 'slim.pth')
    _write_checkpoint(_slim_backbone(), ckpt)
    out = tmp_path / 'out'
    result = run_tool(
        [TOOL, CONFIG, ckpt, '--width', '0.3', '--out-dir',
         str(out)])
    assert 'not expressible' in result.stdout
    assert (out / 'narrow_resnet_w0.3.pth').exists()
    assert not (out / 'resnet_w0.3_mmpretrain.pth').exists()


def test_bad_checkpoint_and_width(tmp_path):
    ckpt = str(tmp_path / 'wrong.pth')
    _write_checkpoint(
        SlimResNet(18, stem_channels=8, base_channels=8), ckpt)
    result = run_tool(
        [TOOL, CONFIG, ckpt, '--width', '0.5', '--out-dir',
         str(tmp_path)],
        check=False)
    assert result.returncode != 0
    assert 'ValueError' in result.stderr
    assert 'conv1.weight: (8, 3, 3, 3) in' in result.stderr

    ckpt = str(tmp_path / 'slim.pth')
    _write_checkpoint(_slim_backbone(), ckpt)
    result = run_tool(
        [TOOL, CONFIG, ckpt, '--width', '0.1', '--out-dir',
         str(tmp_path)],
        check=False)
    assert result.returncode != 0
    assert 'width=0.1 is outside width_range (0.25, 1.0)' in result.stderr
