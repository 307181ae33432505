# Copyright (c) slim_plugins contributors. All rights reserved.
"""The papers' linear-evaluation protocols (configs/*/benchmarks/): their
settings as the specs give them, and one iteration each through
tools/train.py on tiny data."""
import os.path as osp

import pytest
from conftest import REPO_ROOT, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.registry import MODELS

SLIMCLR_V2 = osp.join(REPO_ROOT, 'configs', 'slimclr', 'benchmarks',
                      'slim-resnet50_switchable-linear-4xb256-steplr-100e_'
                      'in1k.py')
SLIMCLR_V3 = osp.join(REPO_ROOT, 'configs', 'slimclr', 'benchmarks',
                      'slim-resnet50_switchable-linear-8xb128-coslr-90e_'
                      'in1k.py')
US3L_CIFAR = osp.join(REPO_ROOT, 'configs', 'us3l', 'benchmarks',
                      'slim-resnet18_switchable-linear-4xb128-steplr-100e_'
                      'cifar100.py')
US3L_IN1K = osp.join(REPO_ROOT, 'configs', 'us3l', 'benchmarks',
                     'slim-resnet50_switchable-linear-8xb256-lars-coslr-60e_'
                     'in1k.py')


@pytest.mark.parametrize('config,lr,epochs,batch,distill,schedule', [
    (SLIMCLR_V2, 60., 100, 256, 0.5, 'MultiStepLR'),
    (SLIMCLR_V3, 0.4, 90, 128, 0.5, 'CosineAnnealingLR'),
    (US3L_CIFAR, 30., 100, 128, 0., 'MultiStepLR'),
    (US3L_IN1K, 0.8, 60, 256, 0., 'CosineAnnealingLR'),
])
def test_settings_of_the_papers(config, lr, epochs, batch, distill,
                                schedule):
    cfg = Config.fromfile(config)
    assert cfg.optim_wrapper.optimizer.lr == lr
    assert cfg.optim_wrapper.optimizer.weight_decay == 0
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.model.head.distill_weight == distill
    # No BN before the classifiers in the papers' protocols.
    assert cfg.model.head.feature_norm is False
    (sched, ) = cfg.param_scheduler
    assert sched.type == schedule
    if schedule == 'MultiStepLR':
        assert sched.milestones == [60, 80] and sched.gamma == 0.1
    init_default_scope('slim_plugins')
    model = MODELS.build(
        dict(cfg.model, backbone=dict(cfg.model.backbone, init_cfg=None)))
    assert model.train_widths == [1.0, 0.75, 0.5, 0.25]


def _one_iteration(config, options, tmp_path):
    options = options + [
        'test_' + o[len('val_'):] for o in options
        if o.startswith('val_dataloader.')
    ]
    return run_tool([
        'tools/train.py', config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        'model.backbone.init_cfg=None', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.batch_size=4', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.batch_size=4', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', *options
    ])


def test_us3l_cifar_protocol_runs_one_iteration(tmp_path):
    data = str(tmp_path / 'cifar100')
    run_tool([
        'tools/data/make_tiny_cifar.py', '--out', data, '--num-train', '4',
        '--num-test', '4', '--seed', '0', '--cifar100'
    ])
    result = _one_iteration(US3L_CIFAR, [
        f'train_dataloader.dataset.data_root={data}',
        'train_dataloader.dataset.type=UncheckedCIFAR100',
        f'val_dataloader.dataset.data_root={data}',
        'val_dataloader.dataset.type=UncheckedCIFAR100',
        'custom_hooks.0.num_batches=1'
    ], tmp_path)
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][1/1]' in log
    assert 'accuracy/top1@w0.25' in log


@pytest.mark.slow
@pytest.mark.parametrize('config', [SLIMCLR_V2, US3L_IN1K])
def test_imagenet_protocols_run_one_iteration(config, tmp_path):
    data = str(tmp_path / 'imagenet')
    run_tool([
        'tools/data/make_tiny_imagenet.py', '--out', data, '--num-classes',
        '2', '--per-class', '2', '--size', '64', '--seed', '0'
    ])
    classes = osp.join(data, 'meta', 'classes.txt')
    options = [
        f'train_dataloader.dataset.data_root={data}',
        f'train_dataloader.dataset.classes={classes}',
        f'val_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.classes={classes}',
        'train_dataloader.dataset.pipeline.1.scale=64',
        'val_dataloader.dataset.pipeline.1.scale=72',
        'val_dataloader.dataset.pipeline.2.crop_size=64',
    ]
    if config == US3L_IN1K:
        options += [
            'custom_hooks.0.num_batches=1',
            'custom_hooks.0.dataloader.batch_size=2',
            'custom_hooks.0.dataloader.num_workers=0',
            f'custom_hooks.0.dataloader.dataset.data_root={data}',
            f'custom_hooks.0.dataloader.dataset.classes={classes}',
            'custom_hooks.0.dataloader.dataset.pipeline.1.scale=64',
        ]
    result = _one_iteration(config, options, tmp_path)
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][1/1]' in log
    assert 'accuracy/top1@w0.25' in log
