# Copyright (c) slim_plugins contributors. All rights reserved.
"""projects/slim_retinanet: an mmdet config using slim_plugins by scope."""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

PROJECT = osp.join(REPO_ROOT, 'projects', 'slim_retinanet')
FULL = osp.join(PROJECT, 'configs',
                'retinanet_slimresnet50-w0.5_fpn_1x_coco.py')
TINY = osp.join(PROJECT, 'configs',
                'retinanet_slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py')


@pytest.fixture(autouse=True)
def project_on_path(monkeypatch):
    # What `PYTHONPATH=$(pwd)` does for the README's commands.
    monkeypatch.syspath_prepend(REPO_ROOT)
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def test_full_config_builds_on_meta():
    cfg = Config.fromfile(FULL)  # runs custom_imports
    assert cfg.default_scope == 'mmdet'
    assert cfg.model.backbone.type == 'slim_plugins.DeployedSlimResNet'
    cfg.model.backbone.init_cfg = None
    with torch.device('meta'):
        detector = MMDET_MODELS.build(cfg.model)
    assert type(detector).__name__ == 'AutoNeckRetinaNet'
    # R-50 at 0.5 (int rule): the FPN got the narrow stage channels
    assert [m.conv.in_channels for m in detector.neck.lateral_convs] == \
        [256, 512, 1024]  # start_level=1 skips stage 1 (128)
    assert detector.neck.in_channels == [128, 256, 512, 1024]


def test_tiny_config_trains_and_predicts():
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = None
    detector = MMDET_MODELS.build(cfg.model)
    detector.init_weights()
    assert detector.neck.in_channels == [8, 16, 32, 64]
    packed = demo_mm_inputs(2, (3, 96, 96), num_items=[2, 1], num_classes=4)
    optim = OptimWrapper(torch.optim.SGD(detector.parameters(), lr=0.01))
    detector.train()
    for _ in range(2):
        log_vars = detector.train_step(packed, optim)
        assert torch.isfinite(log_vars['loss'])
    detector.eval()
    with torch.no_grad():
        pred = detector.test_step(packed)[0].pred_instances
    assert pred.bboxes.shape[1] == 4
