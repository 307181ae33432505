# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/analysis_tools/gate_report.py and
tools/model_converters/export_gated.py on tiny Fashion-MNIST."""
import json
import os.path as osp

import pytest
from conftest import (REPO_ROOT, random_checkpoint, run_tool,
                      write_tiny_fashion_mnist)

from slim_plugins.models.backbones import PrunedGatedResNet
from slim_plugins.utils import load_checkpoint_file

CONFIG = osp.join(REPO_ROOT, 'configs', 'unification', 'benchmarks',
                  'gated-resnet18_knn_fashion-mnist.py')


@pytest.fixture(scope='module')
def gated_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp('gated')
    data_root = root / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root), num_train=32, num_test=16)
    checkpoint = random_checkpoint(CONFIG, str(root / 'gated.pth'))
    options = []
    for key in ('test_dataloader', 'calib_dataloader'):
        options += [
            f'{key}.dataset.data_root={data_root}', f'{key}.num_workers=0'
        ]
    return checkpoint, options + ['test_dataloader.persistent_workers=False']


def test_gate_report(tmp_path, gated_checkpoint):
    checkpoint, options = gated_checkpoint
    out = run_tool([
        'tools/analysis_tools/gate_report.py', CONFIG, checkpoint,
        '--out-dir',
        str(tmp_path), '--cfg-options', *options
    ]).stdout
    assert '| block | channels | always off | always on |' in out
    report = json.loads((tmp_path / 'gate_report.json').read_text())
    assert report['num_images'] == 16
    for row in report['blocks']:
        assert row['always_off'] + row['always_on'] + \
            row['data_dependent'] == row['channels']
    assert (tmp_path / 'gate_report.png').stat().st_size > 0


def test_export_gated(tmp_path, gated_checkpoint):
    checkpoint, options = gated_checkpoint
    out = run_tool([
        'tools/model_converters/export_gated.py', CONFIG, checkpoint,
        '--out-dir',
        str(tmp_path), '--cfg-options', *options
    ]).stdout
    assert 'calibration (32 images)' in out and 'held-out (16 images)' in out
    report = json.loads((tmp_path / 'export_report.json').read_text())
    assert report['calibration_max_abs_diff'] < 1e-4
    assert report['exported_macs'] <= report['gated_macs'] + 1
    assert 0 <= report['removed_fired_pair_percent'] <= 100
    assert set(report['knn_exported']) == {'top1_k1', 'top1_k20'}
    # the exported checkpoint rebuilds the backbone from its meta
    ckpt = load_checkpoint_file(str(tmp_path / 'pruned_gated_resnet.pth'))
    kwargs = dict(ckpt['meta']['backbone_cfg'])
    assert kwargs.pop('type') == 'PrunedGatedResNet'
    net = PrunedGatedResNet(**kwargs)
    net.load_state_dict(
        {k[len('backbone.'):]: v
         for k, v in ckpt['state_dict'].items()},
        strict=True)


def test_a_model_without_gates_is_refused(tmp_path):
    config = osp.join(REPO_ROOT, 'configs', 'simclr', 'benchmarks',
                      'resnet18_linear-1xb128-coslr-1e_fashion-mnist.py')
    result = run_tool([
        'tools/analysis_tools/gate_report.py', config,
        str(tmp_path / 'x.pth')
    ], check=False)
    assert result.returncode != 0
    assert 'no gated backbone' in result.stderr
