# Copyright (c) slim_plugins contributors. All rights reserved.
"""GatedMACs: the achieved MACs of the gated path, averaged per image, and
the per-path kNN / linear probe of a Unification checkpoint."""
import os.path as osp
import re

import pytest
import torch
from conftest import (REPO_ROOT, force_gates, random_checkpoint, run_tool,
                      write_tiny_fashion_mnist)
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.evaluation.metrics import GatedMACs
from slim_plugins.ops import get_gate_path
from slim_plugins.registry import MODELS

DENSE = 555417600  # CIFAR stem, padding 1, 32x32
ALL_OFF = 8301568  # stem + downsamples + gates (test_gated_resnet.py)
GATES = 240640


def _classifier():
    init_default_scope('slim_plugins')
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='GatedResNet', depth=18, stem='cifar'),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=2,
                      in_channels=512),
            data_preprocessor=dict(type='ClsDataPreprocessor')))
    return model.eval()


def test_mean_over_images_on_a_hand_checkable_case():
    model = _classifier()
    metric = GatedMACs()
    metric.bind(model)
    batch = dict(inputs=[torch.zeros(3, 32, 32)] * 2, data_samples=None)
    force_gates(model.backbone.blocks(), on=True)
    metric.process(batch, [])
    force_gates(model.backbone.blocks(), on=False)
    metric.process(batch, [])
    results = metric.compute_metrics(metric.results)
    # two images at DENSE + GATES, two at ALL_OFF
    mean = (2 * (DENSE + GATES) + 2 * ALL_OFF) / 4
    assert results['gated_macs'] == pytest.approx(mean)
    assert results['dense_macs'] == DENSE
    assert results['gated_macs_percent'] == pytest.approx(100 * mean / DENSE)
    # the model is back on its own path afterwards
    assert get_gate_path(model) == 'dense'


def test_needs_a_bound_gated_model():
    metric = GatedMACs()
    with pytest.raises(ValueError, match='KNNMemoryHook'):
        metric.process(dict(inputs=[torch.zeros(3, 8, 8)]), [])
    init_default_scope('slim_plugins')
    plain = MODELS.build(
        dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18),
             data_preprocessor=dict(type='ClsDataPreprocessor')))
    metric.bind(plain)
    with pytest.raises(TypeError, match='no gated backbone'):
        metric.process(dict(inputs=[torch.zeros(3, 8, 8)]), [])


def test_knn_per_path_through_test_py(tmp_path):
    # A random Unification checkpoint, evaluated on both paths: the kNN
    # features change with the path, the gated MACs are reported for both.
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root), num_train=32, num_test=16)
    config = osp.join(REPO_ROOT, 'configs', 'unification', 'benchmarks',
                      'gated-resnet18_knn_fashion-mnist.py')
    checkpoint = random_checkpoint(config, str(tmp_path / 'random.pth'))
    macs = {}
    for path in ('dense', 'gated'):
        log = run_tool([
            'tools/test.py', config, checkpoint, '--work-dir',
            str(tmp_path / path), '--cfg-options',
            f'model.backbone.path={path}',
            f'test_dataloader.dataset.data_root={data_root}',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            f'test_evaluator.0.memory_dataloader.dataset.data_root='
            f'{data_root}', 'test_evaluator.0.memory_dataloader.num_workers=0'
        ]).stdout
        line = [x for x in log.splitlines() if 'Epoch(test)' in x][-1]
        assert 'knn/top1_k1:' in line and 'knn/top1_k20:' in line, line
        macs[path] = float(
            re.search(r'macs/gated_macs_percent: ([\d.]+)', line).group(1))
    assert macs['dense'] == macs['gated']
    assert 0 < macs['gated'] < 100
