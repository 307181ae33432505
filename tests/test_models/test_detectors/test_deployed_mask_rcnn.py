# Copyright (c) slim_plugins contributors. All rights reserved.
"""Neck channels from the backbone; DeployedMaskRCNN train/predict."""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

from slim_plugins.models.detectors import (DeployedMaskRCNN,
                                           backbone_cfg_out_channels,
                                           backbone_out_channels,
                                           resolve_neck_in_channels)

CONFIGS = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'mmdetection')
TINY = osp.join(CONFIGS,
                'mask-rcnn_slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py')


def _deployed(width, depth=50):
    return dict(type='slim_plugins.DeployedSlimResNet', depth=depth,
                width=width, channel_rule='int')


@pytest.fixture(autouse=True)
def mmdet_scope():
    # mmdet's default scope for these tests only (restored afterwards).
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.mark.parametrize('width,channels', [(1.0, [256, 512, 1024, 2048]),
                                            (0.25, [64, 128, 256, 512])])
def test_resolve_from_width(width, channels):
    neck = dict(type='FPN', in_channels='auto', out_channels=256, num_outs=5)
    assert resolve_neck_in_channels(_deployed(width),
                                    neck)['in_channels'] == channels
    del neck['in_channels']
    assert resolve_neck_in_channels(_deployed(width),
                                    neck)['in_channels'] == channels
    neck['in_channels'] = channels  # an explicit, correct list is kept
    assert resolve_neck_in_channels(_deployed(width), neck) == neck
    assert resolve_neck_in_channels(_deployed(width), None) is None


def test_explicit_mismatch_is_an_error():
    neck = dict(type='FPN', in_channels=[256, 512, 1024, 2048],
                out_channels=256, num_outs=5)
    with pytest.raises(ValueError, match=r"\[64, 128, 256, 512\].*'auto'"):
        resolve_neck_in_channels(_deployed(0.25), neck)


def test_other_backbones_are_probed_on_meta():
    # mmdet's own ResNet has no channel table: one meta forward tells.
    cfg = dict(type='ResNet', depth=18, init_cfg=None)
    assert backbone_cfg_out_channels(cfg) == (64, 128, 256, 512)
    real = MMDET_MODELS.build(cfg)
    before = real.conv1.weight.clone()
    assert backbone_out_channels(real) == (64, 128, 256, 512)
    assert real.conv1.weight.device.type == 'cpu'  # left untouched
    assert torch.equal(real.conv1.weight, before)


def build_tiny(width):
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.width = width
    cfg.model.backbone.init_cfg = None
    return MMDET_MODELS.build(cfg.model)


@pytest.mark.parametrize('width,expected', [(1.0, (16, 32, 64, 128)),
                                            (0.25, (8, 8, 16, 32))])
def test_tiny_neck_follows_width(width, expected):
    # divisible-by-8 rule on 16 base channels: 0.25 -> 8/8/16/32
    detector = build_tiny(width)
    assert isinstance(detector, DeployedMaskRCNN)
    assert detector.backbone.out_channels == expected
    laterals = [m.conv.in_channels for m in detector.neck.lateral_convs]
    assert tuple(laterals) == expected


def test_tiny_detector_trains_and_predicts():
    torch.manual_seed(0)
    detector = build_tiny(0.25)
    detector.init_weights()
    packed = demo_mm_inputs(2, (3, 96, 96), num_items=[2, 3], num_classes=4,
                            with_mask=True)
    optim = OptimWrapper(torch.optim.SGD(detector.parameters(), lr=0.01))
    before = detector.backbone.layer1[0].conv1.weight.clone()
    detector.train()
    log_vars = detector.train_step(packed, optim)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_mask'} <= set(log_vars)
    assert torch.isfinite(log_vars['loss'])
    assert not torch.equal(before, detector.backbone.layer1[0].conv1.weight)

    detector.eval()
    with torch.no_grad():
        results = detector.test_step(packed)
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4
    assert pred.masks.shape[1:] == (96, 96)
