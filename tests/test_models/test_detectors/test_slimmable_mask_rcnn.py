# Copyright (c) slim_plugins contributors. All rights reserved.
"""SlimmableMaskRCNN: zero-padding, the multi-width step, strict init."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.detectors import SlimmableMaskRCNN, zero_pad_channels
from slim_plugins.ops import using_width

CONFIGS = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'mmdetection')
TINY = osp.join(
    CONFIGS, 'mask-rcnn_slimmable-slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py')


@pytest.fixture(autouse=True)
def mmdet_scope():
    # mmdet's default scope for these tests only (restored afterwards).
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def test_zero_pad_equals_sliced_lateral_conv():
    # Padding to C then a full 1x1 conv == the conv with its input channels
    # sliced to the real c: same output, same gradient on the real inputs.
    torch.manual_seed(0)
    feat = torch.randn(2, 3, 5, 5, requires_grad=True)
    weight = torch.randn(4, 8, 1, 1, requires_grad=True)
    bias = torch.randn(4)
    padded, = zero_pad_channels([feat], [8])
    assert padded.shape == (2, 8, 5, 5)
    assert torch.count_nonzero(padded[:, 3:]) == 0
    out = F.conv2d(padded, weight, bias)
    ref = F.conv2d(feat, weight[:, :3], bias)
    assert torch.allclose(out, ref, atol=1e-6)
    grad_out = torch.randn_like(out)
    g_feat, g_weight = torch.autograd.grad(out, (feat, weight), grad_out)
    r_feat, r_weight = torch.autograd.grad(ref, (feat, weight), grad_out)
    assert torch.allclose(g_feat, r_feat, atol=1e-5)
    assert torch.allclose(g_weight[:, :3], r_weight[:, :3], atol=1e-5)
    assert torch.count_nonzero(g_weight[:, 3:]) == 0
    full = torch.randn(1, 8, 2, 2)
    assert zero_pad_channels([full], [8])[0] is full
    with pytest.raises(ValueError, match='more than'):
        zero_pad_channels([full], [4])


def build_tiny(**model_overrides):
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = None
    for key, value in model_overrides.items():
        cfg.model[key] = value  # replace, not merge
    return MMDET_MODELS.build(cfg.model)


def test_multi_width_step_trains_every_width():
    torch.manual_seed(0)
    detector = build_tiny()
    assert isinstance(detector, SlimmableMaskRCNN)
    detector.init_weights()
    # FPN built for the full width; sub-widths are padded into it.
    assert [m.conv.in_channels for m in detector.neck.lateral_convs] == \
        [16, 32, 64, 128]
    assert detector.train_widths == [1.0, 0.25]
    bn_small = detector.backbone.bn1.switch_bns['0_25']
    tracked = (detector.backbone.bn1.num_batches_tracked.item(),
               bn_small.num_batches_tracked.item())

    packed = demo_mm_inputs(2, (3, 96, 96), num_items=[2, 3], num_classes=4,
                            with_mask=True)
    optim = OptimWrapper(torch.optim.SGD(detector.parameters(), lr=0.01))
    lateral = detector.neck.lateral_convs[0].conv.weight.clone()
    detector.train()
    log_vars = detector.train_step(packed, optim)
    for width in ('w1', 'w0.25'):
        for name in ('loss_rpn_cls', 'loss_cls', 'loss_mask'):
            assert f'{name}@{width}' in log_vars
    total = sum(v for k, v in log_vars.items()
                if k.startswith('loss_') and '@' in k)
    assert torch.allclose(log_vars['loss'], total, rtol=1e-5)
    # each width ran through its own switchable BN
    assert detector.backbone.bn1.num_batches_tracked.item() == tracked[0] + 1
    assert bn_small.num_batches_tracked.item() == tracked[1] + 1
    # one shared FPN, updated once from both widths
    assert not torch.equal(lateral, detector.neck.lateral_convs[0].conv.weight)
    assert detector.backbone.width == 1.0  # width restored after the step

    detector.eval()
    with torch.no_grad(), using_width(detector, 0.25):
        feats = detector.backbone(detector.data_preprocessor(
            packed, False)['inputs'])
        results = detector.test_step(packed)
    assert [f.shape[1] for f in feats] == [8, 8, 16, 32]
    assert results[0].pred_instances.masks.shape[1:] == (96, 96)


def test_needs_a_slimmable_backbone():
    with pytest.raises(TypeError, match='DeployedMaskRCNN'):
        build_tiny(
            type='slim_plugins.SlimmableMaskRCNN',
            backbone=dict(type='slim_plugins.DeployedSlimResNet', depth=18,
                          stem_channels=16, base_channels=16))


def test_pretrained_backbone_loads_strictly(tmp_path):
    torch.manual_seed(0)
    slim = SlimResNet(18, stem='imagenet', stem_channels=16,
                      base_channels=16, width_mode='switchable',
                      widths=(1.0, 0.25), out_indices=(0, 1, 2, 3))
    path = str(tmp_path / 'slim.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in slim.state_dict().items()}}, path)
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg.checkpoint = path
    detector = MMDET_MODELS.build(cfg.model)
    detector.init_weights()
    for key, value in slim.state_dict().items():
        assert torch.equal(detector.backbone.state_dict()[key], value), key

    # a checkpoint with other switchable widths: stop, listing the keys
    other = SlimResNet(18, stem='imagenet', stem_channels=16,
                       base_channels=16, width_mode='switchable',
                       widths=(1.0, 0.5))
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in other.state_dict().items()}}, path)
    detector = MMDET_MODELS.build(cfg.model)
    with pytest.raises(ValueError, match=r'switch_bns\.0_25'):
        detector.init_weights()
