# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hostile checkpoints, loader by loader: the getattr gadget (eval reached
through ``_rebuild_from_type_v2``) and a plain ``os.system`` reduce are
refused by every tool that loads a checkpoint, with an error that names the
file, and no command runs."""
import os.path as osp

import pytest
from conftest import (REPO_ROOT, TEST_CONFIGS, run_tool, tiny_slim_simclr_knn,
                      write_hostile)

from slim_plugins.models.backbones.pretrained_loading import \
    load_pretrained_strict
from slim_plugins.registry import MODELS
from slim_plugins.utils.checkpoint import CheckpointLoadError

CLASSIFIER = osp.join(TEST_CONFIGS, 'tiny_cifar_classifier.py')
KINDS = ['getattr', 'os.system']


@pytest.fixture
def marker(tmp_path):
    path = str(tmp_path / 'pwned')
    yield path
    assert not osp.exists(path), 'the checkpoint ran a shell command'


def _data(root):
    return [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def _assert_refused(result, path):
    assert result.returncode != 0
    assert f'refused to load checkpoint {path}' in result.stderr
    assert 'outside the allowed set' in result.stderr


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('how', ['resume', 'load_from', 'test'])
def test_train_and_test_tools(tmp_path, tiny_cifar10, marker, kind, how):
    path = write_hostile(str(tmp_path / 'hostile.pth'), kind, marker)
    work_dir = str(tmp_path / 'work')
    if how == 'test':
        args = ['tools/test.py', CLASSIFIER, path]
    else:
        args = ['tools/train.py', CLASSIFIER]
        args += ['--resume', path] if how == 'resume' else []
    args += ['--work-dir', work_dir, '--cfg-options', *_data(tiny_cifar10)]
    if how == 'load_from':
        args.append(f'load_from={path}')
    _assert_refused(run_tool(args, check=False), path)


# Both gadgets are refused by the loader in
# tests/test_utils/test_checkpoint.py; through every tool, one gadget runs
# by default, both with -m slow.
@pytest.mark.parametrize('kind', [
    pytest.param('getattr', marks=pytest.mark.slow), 'os.system'
])
def test_converters_and_calibration(tmp_path, tiny_cifar10, marker, kind):
    path = write_hostile(str(tmp_path / 'hostile.pth'), kind, marker)
    config, _, _ = tiny_slim_simclr_knn(tmp_path, tiny_cifar10)
    commands = [
        ['tools/model_converters/ssl_to_mmdet.py', path, '--width', '0.5',
         '--out', str(tmp_path / 'det.pth')],
        ['tools/model_converters/export_subnet.py', config, path, '--width',
         '0.5', '--out-dir', str(tmp_path / 'export')],
        ['tools/calibrate_bn.py', config, path, '--widths', '1.0', '--split',
         'test', '--num-batches', '1', '--out', str(tmp_path / 'cal.pth')],
    ]
    for command in commands:
        _assert_refused(run_tool(command, check=False, cwd=REPO_ROOT), path)


@pytest.mark.parametrize('kind', KINDS)
def test_pretrained_init_of_a_backbone(tmp_path, marker, kind):
    path = write_hostile(str(tmp_path / 'hostile.pth'), kind, marker)
    backbone = MODELS.build(
        dict(type='SlimResNet', depth=18, stem_channels=8, base_channels=8))
    with pytest.raises(CheckpointLoadError, match='outside the allowed set'):
        load_pretrained_strict(
            backbone, dict(type='Pretrained', checkpoint=path,
                           prefix='backbone.'))
