# Copyright (c) slim_plugins contributors. All rights reserved.
"""BNCalibrationHook(before_train=True): a frozen probe trains on the
calibrated statistics of each width."""
import uuid
from typing import Dict, List

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample
from torch.utils.data import Dataset

from slim_plugins.ops import SlimLinear, set_width, using_width
from slim_plugins.registry import HOOKS, MODELS
from slim_plugins.utils.bn_calibration import get_bank

BN = 'layer1.0.bn1'  # a shared BN inside the frozen backbone


@MODELS.register_module(force=True)
class _BNHookTestSlimLinearClsHead(LinearClsHead):
    """LinearClsHead whose fc follows the backbone's width."""

    def __init__(self, num_classes: int, in_channels: int, **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        self.fc = SlimLinear(in_channels, num_classes)


@HOOKS.register_module(force=True)
class _AlternateWidthHook(Hook):
    """Iteration i trains at widths[i % len(widths)] (one probe, 2 widths)."""

    def __init__(self, widths: List[float]) -> None:
        self.widths = widths

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        set_width(runner.model, self.widths[runner.iter % len(self.widths)])


class ToyImages(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, idx: int) -> dict:
        gen = torch.Generator().manual_seed(idx)
        img = torch.randint(0, 256, (3, 16, 16), generator=gen,
                            dtype=torch.uint8)
        return dict(
            inputs=img, data_samples=DataSample().set_gt_label(idx % 2))


def _loader(shuffle: bool) -> dict:
    return dict(
        dataset=ToyImages(),
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        collate_fn=dict(type='default_collate'),
        batch_size=4,
        num_workers=0)


def _runner(work_dir: str, hook: dict, train_widths: List[float],
            frozen: bool = True) -> Runner:
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
            stem_channels=8,
            frozen_stages=4 if frozen else -1,
            norm_eval=frozen),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='_BNHookTestSlimLinearClsHead',
            num_classes=2,
            in_channels=64,
            topk=(1, )))
    return Runner(
        model=model,
        work_dir=work_dir,
        experiment_name=f'bnh_{uuid.uuid4().hex}',
        train_dataloader=_loader(shuffle=True),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=2),
        custom_hooks=[hook,
                      dict(type='_AlternateWidthHook',
                           widths=train_widths)],
        default_hooks=dict(checkpoint=None),
        default_scope='slim_plugins',
        log_level='WARNING')


def _record_bn_stats(runner: Runner) -> List[Dict[str, torch.Tensor]]:
    """Stats that BN holds at each training forward (at its width)."""
    bn = runner.model.backbone.get_submodule(BN)
    seen = []

    def hook(module, args):
        if module.training:  # a calibration forward, not a training one
            return
        c = args[0].shape[1]
        seen.append(
            dict(
                width=runner.model.backbone.width,
                mean=module.running_mean[:c].clone(),
                var=module.running_var[:c].clone()))

    bn.register_forward_pre_hook(hook)
    return seen


def _expected_stem_mean(runner: Runner, width: float) -> torch.Tensor:
    """Mean over the 2 calibration batches of the stem conv's batch mean."""
    backbone = runner.model.backbone
    means = []
    with torch.no_grad(), using_width(backbone, width):
        for start in (0, 4):
            x = torch.stack(
                [ToyImages()[i]['inputs'] for i in range(start, start + 4)])
            x = (x.float() - 128.) / 64.
            means.append(backbone.conv1(x).mean(dim=(0, 2, 3)))
    return torch.stack(means).mean(0)


def test_before_train_trains_on_calibrated_stats(tmp_path):
    hook = dict(
        type='BNCalibrationHook',
        widths=[1.0, 0.5],
        num_batches=2,
        dataloader=_loader(shuffle=False),
        before=(),
        before_train=True)
    runner = _runner(str(tmp_path), hook, train_widths=[0.5, 1.0])
    seen = _record_bn_stats(runner)
    runner.train()
    bank = get_bank(runner.model.backbone)
    assert [s['width'] for s in seen] == [0.5, 1.0]
    for record in seen:
        stats = bank.load(record['width'])[BN]
        torch.testing.assert_close(record['mean'], stats['running_mean'])
        torch.testing.assert_close(record['var'], stats['running_var'])
        # Calibrated, not the initial (0, 1) statistics.
        assert record['mean'].abs().max() > 1e-3
    # The bank holds the statistics of the calibration data: the stem BN's
    # mean is the average batch mean of the stem conv output.
    for width in (1.0, 0.5):
        torch.testing.assert_close(
            bank.load(width)['bn1']['running_mean'],
            _expected_stem_mean(runner, width),
            rtol=1e-4,
            atol=1e-5)


def test_default_keeps_training_statistics(tmp_path):
    hook = dict(
        type='BNCalibrationHook',
        widths=[1.0, 0.5],
        num_batches=2,
        dataloader=_loader(shuffle=False),
        before=())
    runner = _runner(str(tmp_path), hook, train_widths=[0.5])
    seen = _record_bn_stats(runner)
    runner.train()
    assert not get_bank(runner.model.backbone).widths()
    for record in seen:
        assert torch.equal(record['mean'], torch.zeros_like(record['mean']))
        assert torch.equal(record['var'], torch.ones_like(record['var']))


def test_uncalibrated_width_is_refused(tmp_path):
    hook = dict(
        type='BNCalibrationHook',
        widths=[1.0],
        num_batches=1,
        dataloader=_loader(shuffle=False),
        before=(),
        before_train=True)
    runner = _runner(str(tmp_path), hook, train_widths=[0.5])
    with pytest.raises(ValueError, match='width=0.5.*not among'):
        runner.train()


def test_bn_in_train_mode_is_refused(tmp_path):
    hook = dict(
        type='BNCalibrationHook',
        widths=[0.5],
        num_batches=1,
        dataloader=_loader(shuffle=False),
        before=(),
        before_train=True)
    runner = _runner(str(tmp_path), hook, train_widths=[0.5], frozen=False)
    with pytest.raises(ValueError, match='norm_eval=True'):
        runner.train()


def test_before_train_argument_is_checked():
    with pytest.raises(TypeError, match='before_train'):
        HOOKS.build(
            dict(type='BNCalibrationHook', widths=[1.0], before_train='yes'))
