# Copyright (c) slim_plugins contributors. All rights reserved.
"""BagOfFeaturesTestLoop: the mean of h over each image's patches, the
probe and kNN, through tools/test.py on tiny Fashion-MNIST-format data."""
import json
import os
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed

import slim_plugins  # noqa: F401

PRETRAIN = osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                    'empssl_resnet18_1xb32-coslr-1e_fashion-mnist.py')
BOF = osp.join(REPO_ROOT, 'configs', 'emp_ssl', 'benchmarks',
               'resnet18_bag-of-features-16p_fashion-mnist.py')


@pytest.fixture(scope='module')
def fashion(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('fashion'))
    write_tiny_fashion_mnist(root, num_train=16, num_test=8)
    return root


def _options(root, *extra):
    loaders = ('test_dataloader', 'test_cfg.train_dataloader')
    options = [f'{loader}.dataset.data_root={root}' for loader in loaders]
    options += [f'{loader}.{key}' for loader in loaders
                for key in ('num_workers=0', 'batch_size=4')]
    return options + ['test_dataloader.dataset.pipeline.0.num_views=3',
                      'test_cfg.train_dataloader.dataset.pipeline.0.'
                      'num_views=3', 'test_cfg.knn.k=3',
                      'test_cfg.probe.epochs=5', *extra]


def test_each_image_is_the_mean_of_its_patches(tmp_path, fashion):
    cfg = Config.fromfile(BOF)
    cfg.work_dir = str(tmp_path)
    init_default_scope('slim_plugins')
    for loader in (cfg.test_dataloader, cfg.test_cfg.train_dataloader):
        loader.num_workers, loader.batch_size = 0, 4
        loader.dataset.data_root = fashion
        loader.dataset.pipeline[0].num_views = 3
    cfg.test_cfg.knn.k, cfg.test_cfg.probe.epochs = 3, 5
    runner = Runner.from_cfg(cfg)
    loop = runner.build_test_loop(runner._test_loop)
    model = runner.model.eval()
    feats, labels = loop.encode(loop.dataloader)
    assert feats.shape == (8, 1024) and labels.tolist() == list(range(8))
    # The same draws again, by hand: h of each patch, averaged per image.
    set_random_seed(loop.seed)
    batch = next(iter(loop.dataloader))
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        per_patch = [model.embed(view)['h'] for view in data['inputs']]
    torch.testing.assert_close(
        feats[:4], torch.stack(per_patch).mean(dim=0), atol=1e-5, rtol=1e-5)


def test_pretrain_then_bag_of_features_through_the_tools(tmp_path, fashion):
    work_dir = str(tmp_path / 'pretrain')
    run_tool([
        'tools/train.py', PRETRAIN, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={fashion}',
        'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ])
    out = str(tmp_path / 'metrics.json')
    result = run_tool([
        'tools/test.py', BOF,
        osp.join(work_dir, 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'eval'), '--out', out, '--out-item', 'metrics',
        '--cfg-options', *_options(fashion)
    ])
    with open(out) as file:
        metrics = json.load(file)
    for key in ('accuracy/top1', 'bof/knn_top1', 'bof/probe_top1_last_epoch',
                'bof/probe_top1_best_epoch'):
        assert 0 <= metrics[key] <= 100, (key, result.stdout[-2000:])
    assert metrics['accuracy/top1'] == pytest.approx(
        metrics['bof/probe_top1_last_epoch'])
    assert metrics['bof/probe_top1_best_epoch'] >= metrics[
        'bof/probe_top1_last_epoch']


def test_bad_evaluation_settings(tmp_path, fashion):
    # Refused while the loop is built, before the checkpoint is read.
    checkpoint = str(tmp_path / 'never_read.pth')
    torch.save({}, checkpoint)
    result = run_tool([
        'tools/test.py', BOF, checkpoint, '--work-dir',
        str(tmp_path), '--cfg-options',
        *_options(fashion, 'test_cfg.knn.k=0')
    ], check=False, cwd=REPO_ROOT)
    assert result.returncode != 0
    assert 'knn k=0 must be >= 1' in result.stderr
    assert not os.path.exists(tmp_path / 'metrics.json')


SLIM = osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                'slim-empssl_slim-resnet18_1xb32-coslr-1e_fashion-mnist.py')
SLIM_BOF = osp.join(REPO_ROOT, 'configs', 'emp_ssl', 'benchmarks',
                    'slim-resnet18_bag-of-features-16p_fashion-mnist.py')


# The slimmable end to end; the plain one stays in the default suite.
@pytest.mark.slow
def test_slimmable_model_per_width(tmp_path, fashion):
    work_dir = str(tmp_path / 'pretrain')
    run_tool([
        'tools/train.py', SLIM, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={fashion}',
        'train_dataloader.batch_size=8', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ])
    out = str(tmp_path / 'metrics.json')
    run_tool([
        'tools/test.py', SLIM_BOF,
        osp.join(work_dir, 'epoch_1.pth'), '--work-dir',
        str(tmp_path / 'eval'), '--out', out, '--out-item', 'metrics',
        '--cfg-options', *_options(fashion, 'test_cfg.widths=[1.0,0.25]')
    ])
    with open(out) as file:
        metrics = json.load(file)
    for suffix in ('w1', 'w0.25'):
        assert 0 <= metrics[f'accuracy/top1@{suffix}'] <= 100
        assert f'bof/knn_top1@{suffix}' in metrics
