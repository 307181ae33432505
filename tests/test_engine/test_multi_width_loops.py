# Copyright (c) slim_plugins contributors. All rights reserved.
"""MultiWidthTestLoop / BNCalibrationHook through a real Runner."""
import json
import os.path as osp
import uuid

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample
from torch.utils.data import Dataset

from slim_plugins.ops import SlimLinear
from slim_plugins.registry import MODELS


@MODELS.register_module(force=True)
class _TestSlimLinearClsHead(LinearClsHead):
    """LinearClsHead whose fc follows the backbone's width."""

    def __init__(self, num_classes: int, in_channels: int, **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        self.fc = SlimLinear(in_channels, num_classes)


class ToyImages(Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, idx: int) -> dict:
        gen = torch.Generator().manual_seed(idx)
        img = torch.randint(0, 256, (3, 16, 16), generator=gen,
                            dtype=torch.uint8)
        return dict(
            inputs=img, data_samples=DataSample().set_gt_label(idx % 2))


def _loader() -> dict:
    return dict(
        dataset=ToyImages(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        batch_size=2,
        num_workers=0)


def _runner(work_dir: str, custom_hooks=()) -> Runner:
    torch.manual_seed(0)
    model = dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=[128.] * 3, std=[64.] * 3),
        backbone=dict(
            type='SlimResNet',
            depth=18,
            stem='cifar',
            base_channels=8,
            stem_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='_TestSlimLinearClsHead',
            num_classes=2,
            in_channels=64,
            topk=(1, )))
    return Runner(
        model=model,
        work_dir=work_dir,
        experiment_name=f'mwl_{uuid.uuid4().hex}',
        test_dataloader=_loader(),
        test_evaluator=dict(type='Accuracy', topk=(1, )),
        test_cfg=dict(type='MultiWidthTestLoop', widths=[0.5, 1.0]),
        custom_hooks=list(custom_hooks),
        default_scope='slim_plugins',
        log_level='WARNING')


def test_uncalibrated_shared_bn_is_refused(tmp_path):
    runner = _runner(str(tmp_path))
    with pytest.raises(ValueError, match='calibrat'):
        runner.test()


def test_test_loop_with_calibration(tmp_path):
    hook = dict(
        type='BNCalibrationHook',
        widths=[1.0, 0.5],
        num_batches=2,
        dataloader=_loader())
    runner = _runner(str(tmp_path), custom_hooks=[hook])
    backbone = runner.model.backbone
    buffers = {k: v.clone() for k, v in backbone.state_dict().items()}
    metrics = runner.test()
    assert set(metrics) >= {'accuracy/top1@w1', 'accuracy/top1@w0.5'}
    for value in metrics.values():
        assert 0 <= value <= 100
    # Evaluation restores the BN buffers and the width.
    for key, value in buffers.items():
        assert torch.equal(backbone.state_dict()[key], value), key
    assert backbone.width == 1.0
    path = osp.join(runner.log_dir, 'multi_width_test.json')
    with open(path) as f:
        records = [json.loads(line) for line in f]
    assert len(records) == 1 and records[0]['stage'] == 'test'
    assert [r['width'] for r in records[0]['results']] == [1.0, 0.5]
    assert 'accuracy/top1' in records[0]['results'][0]
    # The calibrated statistics are now in the backbone's state dict.
    assert any(k.startswith('bn_calibration.w0_5__')
               for k in backbone.state_dict())


def test_loop_width_errors(tmp_path):
    runner = _runner(str(tmp_path))
    runner._test_loop = dict(type='MultiWidthTestLoop', widths=[])
    with pytest.raises(ValueError, match='at least one width'):
        runner.build_test_loop(runner._test_loop)
    with pytest.raises(ValueError, match='duplicated'):
        runner.build_test_loop(
            dict(type='MultiWidthTestLoop', widths=[1.0, 1]))


def test_val_loop_reports_per_width_keys(tmp_path):
    hook = dict(
        type='BNCalibrationHook',
        widths=[1.0, 0.25],
        num_batches=1,
        dataloader=_loader(),
        before=('val', ))
    runner = _runner(str(tmp_path), custom_hooks=[hook])
    runner._val_dataloader = _loader()
    runner._val_evaluator = dict(type='Accuracy', topk=(1, ))
    runner._val_loop = dict(type='MultiWidthValLoop', widths=[1.0, 0.25])
    metrics = runner.val()
    assert set(metrics) == {'accuracy/top1@w1', 'accuracy/top1@w0.25'}
    with open(osp.join(runner.log_dir, 'multi_width_val.json')) as f:
        record = json.loads(f.readline())
    assert record['stage'] == 'val'
    assert [r['width'] for r in record['results']] == [1.0, 0.25]
