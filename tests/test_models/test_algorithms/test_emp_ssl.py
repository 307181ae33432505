# Copyright (c) slim_plugins contributors. All rights reserved.
"""EMPSSL: the patch-major stack, the two loss terms, bad input, and one
iteration through tools/train.py on Fashion-MNIST-format data."""
import math
import os
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.registry import MODELS

CONFIG = osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                  'empssl_resnet18_1xb32-coslr-1e_fashion-mnist.py')


def _model():
    cfg = Config.fromfile(CONFIG)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _patches(num_patches=3, batch=4):
    gen = torch.Generator().manual_seed(1)
    return [
        torch.randn(batch, 1, 28, 28, generator=gen)
        for _ in range(num_patches)
    ]


def test_loss_is_the_two_terms_of_the_patch_major_stack():
    model = _model().train()
    views = _patches()
    losses = model.loss(views)
    torch.manual_seed(0)
    z = model.embed(torch.cat(views))['z']
    inv = model.invariance_loss(z, 3)
    tcr = model.tcr_loss(z, 3)
    assert losses['loss_inv'].item() == pytest.approx(inv.item(), rel=1e-5)
    assert losses['loss_tcr'].item() == pytest.approx(tcr.item(), rel=1e-5)
    assert -200 <= losses['loss_inv'].item() <= 200
    assert losses['loss_tcr'].item() < 0
    assert torch.allclose(z.norm(dim=1), torch.ones(len(z)))
    (losses['loss_inv'] + losses['loss_tcr']).backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_rows_are_patch_major():
    # In eval mode BN uses running statistics, so each patch's embedding
    # does not depend on the rest of the stack: chunk i is patch i.
    model = _model().eval()
    views = _patches()
    with torch.no_grad():
        stacked = model.embed(torch.cat(views))['h']
        for i, view in enumerate(views):
            torch.testing.assert_close(
                stacked[i * 4:(i + 1) * 4], model.embed(view)['h'],
                atol=1e-5, rtol=1e-5)


def test_bad_input():
    model = _model()
    with pytest.raises(ValueError, match='1 patch'):
        model.loss(_patches(num_patches=1))
    cfg = Config.fromfile(CONFIG).model
    with pytest.raises(ValueError, match='min_patches=1'):
        MODELS.build(dict(cfg, min_patches=1))


def test_one_iteration_through_the_train_tool(tmp_path):
    root = str(tmp_path / 'fashion')
    os.makedirs(root)
    write_tiny_fashion_mnist(root, num_train=8, num_test=4)
    work_dir = str(tmp_path / 'work')
    result = run_tool([
        'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][2/2]' in log
    for name in ('loss_inv', 'loss_tcr'):
        value = float(log.split(f'{name}: ')[-1].split()[0])
        assert math.isfinite(value)
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
