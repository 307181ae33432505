# Copyright (c) slim_plugins contributors. All rights reserved.
"""Detector MACs per part vs. hand-derived formulas."""
import argparse
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, load_tool
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.detectors import detector_complexity
from slim_plugins.models.utils import width_complexity

CONFIGS = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'mmdetection')


@pytest.fixture(autouse=True)
def mmdet_scope():
    # mmdet's default scope for these tests only (restored afterwards).
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def _build(name, **backbone):
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.update(backbone)
    with torch.device('meta'):
        return MMDET_MODELS.build(cfg.model)


def test_mask_rcnn_r50_parts_by_hand():
    detector = _build('mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py')
    row, = detector_complexity(detector, (3, 64, 64), num_proposals=10,
                               num_masks=2)
    # backbone: the same network counted through the slim/export path
    with torch.device('meta'):
        slim = SlimResNet(50, stem='imagenet', channel_rule='int')
    ref, = width_complexity(slim, [1.0], (3, 64, 64))
    assert row.backbone == ref.macs
    assert row.backbone_params == ref.params

    sizes = [16, 8, 4, 2]  # strides 4..32 on 64x64
    stage = [256, 512, 1024, 2048]
    # FPN: 1x1 laterals C_l -> 256, 3x3 outputs 256 -> 256 (P6: max-pool)
    neck = sum(s * s * c * 256 for s, c in zip(sizes, stage)) + \
        sum(s * s * 256 * 256 * 9 for s in sizes)
    assert row.neck == neck
    # RPN on P2..P6: 3x3 256->256, 1x1 -> 3 anchors, 1x1 -> 12 deltas
    rpn = sum(s * s for s in sizes + [1]) * (256 * 256 * 9 + 256 * 3 +
                                             256 * 12)
    assert row.dense_head == rpn
    # Shared4Conv1FC on 7x7 RoIs: 4 convs 3x3, fc 256*49->1024, cls 81,
    # reg 4*80; FCN mask head on 14x14: 4 convs 3x3, 2x2/2 deconv (input
    # elements * C_out * 4), 1x1 -> 80 classes on 28x28.
    box = 4 * 49 * 256 * 256 * 9 + 256 * 49 * 1024 + 1024 * 81 + 1024 * 320
    mask = 4 * 196 * 256 * 256 * 9 + 196 * 256 * 256 * 4 + 784 * 256 * 80
    assert row.roi_head == 10 * box + 2 * mask
    assert row.total == row.backbone + neck + rpn + 10 * box + 2 * mask


def test_deployed_widths_shrink_backbone_and_laterals():
    rows = [
        detector_complexity(
            _build('mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py', width=w),
            (3, 64, 64))[0] for w in (1.0, 0.25)
    ]
    assert rows[1].backbone < rows[0].backbone / 10
    # only the 1x1 laterals see the narrower stages: 3/4 of their MACs go
    lateral_saving = sum(s * s * c * 256 * 3 // 4
                         for s, c in zip([16, 8, 4, 2],
                                         [256, 512, 1024, 2048]))
    assert rows[0].neck - rows[1].neck == lateral_saving
    assert rows[0].dense_head == rows[1].dense_head
    assert rows[0].roi_head == rows[1].roi_head


def test_slimmable_rows_per_width():
    detector = _build('mask-rcnn_slimmable-slimresnet50_fpn_1x_coco.py')
    rows = detector_complexity(detector, (3, 64, 64),
                               widths=[1.0, 0.75, 0.5, 0.25])
    with torch.device('meta'):
        slim = SlimResNet(50, stem='imagenet', channel_rule='int')
    refs = width_complexity(slim, [1.0, 0.75, 0.5, 0.25], (3, 64, 64))
    assert [r.backbone for r in rows] == [r.macs for r in refs]
    assert [r.backbone_params for r in rows] == [r.params for r in refs]
    # zero-padded into the full FPN: the neck runs at full cost
    assert len({r.neck for r in rows}) == 1
    with pytest.raises(ValueError, match='not slimmable'):
        detector_complexity(
            _build('mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py'),
            widths=[0.5])


def test_get_flops_tool_on_detector_configs(capsys):
    get_flops = load_tool('tools/analysis_tools/get_flops.py')
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py'))
    assert get_flops.is_detector_config(cfg.model)
    args = argparse.Namespace(
        widths=[1.0, 0.25], shape=[64, 64], num_proposals=10, num_masks=2,
        markdown=True)
    get_flops.print_detector(cfg, args)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[1].startswith('| width | backbone | neck |')
    rows = [line.strip('| ').split(' | ') for line in lines[3:]]
    assert [r[0] for r in rows] == ['1', '0.25']
    # the deployed detector is rebuilt per width: its backbone shrinks
    expected = [
        detector_complexity(
            _build('mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py', width=w),
            (3, 64, 64), num_proposals=10, num_masks=2)[0]
        for w in (1.0, 0.25)
    ]
    for row, ref in zip(rows, expected):
        assert row[1] == f'{ref.backbone / 1e9:.2f}'
        assert row[5] == f'{ref.total / 1e9:.2f}'
