# Copyright (c) slim_plugins contributors. All rights reserved.
"""VICReg and DualBranchVICReg (Unification): the loss terms, the gate
schedule, and one iteration of every config through tools/train.py."""
import glob
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.models.losses import VICRegLoss
from slim_plugins.ops import using_gate_path
from slim_plugins.registry import MODELS

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'unification')
FASHION = osp.join(
    CONFIG_DIR, 'dual-vicreg-t0.3_gated-resnet18_1xb64-coslr-1e_'
    'fashion-mnist.py')


def _tiny_dual(**kwargs):
    cfg = dict(
        type='DualBranchVICReg',
        backbone=dict(
            type='GatedResNet',
            depth=18,
            stem='imagenet',
            in_channels=1,
            stem_channels=8,
            base_channels=8),
        neck=dict(
            type='NonLinearNeck',
            in_channels=64,
            hid_channels=32,
            out_channels=32,
            num_layers=3,
            with_last_bn=False,
            with_avg_pool=True),
        budget_loss=dict(type='FLOPsBudgetLoss', target=0.3),
        bound_loss=dict(type='BlockDensityBoundLoss', target=0.3))
    cfg.update(kwargs)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def _views():
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(6, 1, 28, 28, generator=gen) for _ in range(2)]


def test_losses_are_vicreg_between_the_paths_plus_the_budget():
    model = _tiny_dual()
    model.set_gate_schedule(0.5, True)
    views = _views()
    torch.manual_seed(3)
    losses = model.loss(views)
    assert set(losses) == {
        'loss_vicreg', 'loss_budget', 'loss_bound', 'macs_ratio',
        'gate_density'
    }
    # By hand, with the same gate noise (same seed, same order of draws):
    # gated path on view 0, dense path on view 1, one shared projector.
    torch.manual_seed(3)
    with using_gate_path(model.backbone, 'gated'):
        z_gated = model.neck(model.backbone(views[0]))[0]
    stats = model.backbone.gate_stats()
    z_dense = model.neck(model.backbone(views[1]))[0]
    torch.testing.assert_close(losses['loss_vicreg'],
                               VICRegLoss()(z_gated, z_dense))
    ratio = stats.ratio
    torch.testing.assert_close(losses['loss_budget'], 5 * (ratio - 0.3)**2)
    lo = 0.5 * 0.3**0.5
    hi = 1 - 0.5 * (1 - 0.3**0.5)
    rho = stats.densities
    bound = (torch.relu(lo - rho)**2 + torch.relu(rho - hi)**2).mean()
    torch.testing.assert_close(losses['loss_bound'], bound)
    torch.testing.assert_close(losses['macs_ratio'], ratio.detach())
    # every loss term reaches the gates (straight-through) or the weights
    total = losses['loss_vicreg'] + losses['loss_budget']
    total.backward()
    assert model.backbone.layer4[1].gate.fc2.weight.grad.abs().sum() > 0


def test_warmup_is_dense_vicreg_only():
    model = _tiny_dual()
    model.set_gate_schedule(1.0, False)
    views = _views()
    losses = model.loss(views)
    assert set(losses) == {'loss_vicreg'}
    z = [model.neck(model.backbone(v))[0] for v in views]
    torch.testing.assert_close(losses['loss_vicreg'], VICRegLoss()(*z))


def test_symmetric_averages_the_swapped_pair():
    model = _tiny_dual(symmetric=True)
    views = _views()
    torch.manual_seed(3)
    losses = model.loss(views)
    torch.manual_seed(3)
    model.symmetric = False
    first = model.loss(views)
    second = model.loss(views[::-1])
    for key in losses:
        torch.testing.assert_close(losses[key],
                                   (first[key] + second[key]) / 2)


def test_bad_configs():
    with pytest.raises(ValueError, match='target=0.3 and .*target=0.5'):
        _tiny_dual(bound_loss=dict(type='BlockDensityBoundLoss', target=0.5))
    with pytest.raises(ValueError, match=r'target=1.5 must lie in \(0, 1\]'):
        _tiny_dual(budget_loss=dict(type='FLOPsBudgetLoss', target=1.5))
    with pytest.raises(TypeError, match='needs a gated backbone'):
        _tiny_dual(backbone=dict(type='ResNet', depth=18, in_channels=1))
    model = _tiny_dual()
    with pytest.raises(ValueError, match='two views per image.*got 3'):
        model.loss(_views() + _views()[:1])
    with pytest.raises(ValueError, match='p=2'):
        model.set_gate_schedule(2, True)


@pytest.mark.parametrize(
    'config',
    sorted(osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))))
def test_every_config_builds(config):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    init_default_scope('slim_plugins')
    MODELS.build(cfg.model)


def test_one_iteration_through_train_py(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root))
    result = run_tool([
        'tools/train.py', FASHION, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.indices=8', 'train_dataloader.batch_size=8',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    line = [x for x in log.splitlines() if 'Epoch(train) [1][1/1]' in x]
    assert line, log[-3000:]
    for key in ('loss:', 'loss_vicreg:', 'loss_budget:', 'loss_bound:',
                'macs_ratio:', 'gate_density:', 'gate_bound_p: 1.0000'):
        assert key in line[0], line[0]
    # the gates' weights got no weight decay (paramwise_cfg)
    assert 'backbone.layer1.0.gate.fc1.weight:weight_decay=0.0' in log


@pytest.mark.slow
def test_cifar_recipe_runs_one_iteration(tmp_path, tiny_cifar10):
    # The paper's CIFAR-10 recipe (padding-2 stem, colour views, LARS, AMP)
    # on real (tiny) CIFAR pickles: --amp turns the GPU's AmpOptimWrapper
    # into the CPU's bfloat16 one; no SyncBN on one CPU process.
    config = osp.join(
        CONFIG_DIR,
        'dual-vicreg-t0.1_gated-resnet18_2xb256-amp-coslr-500e_cifar10.py')
    result = run_tool([
        'tools/train.py', config, '--amp', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}',
        'train_dataloader.dataset.type=UncheckedCIFAR10',
        'train_dataloader.dataset.indices=4', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'sync_bn=None', 'model_wrapper_cfg=None', 'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    line = [x for x in log.splitlines() if 'Epoch(train) [1][1/1]' in x]
    assert line and 'loss_budget:' in line[0], log[-3000:]
    assert "type='CPUAmpOptimWrapper'" in log
