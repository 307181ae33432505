# Copyright (c) slim_plugins contributors. All rights reserved.
"""Bad input gives one clear error before any work is done: width lists,
checkpoints of another depth, sampler widths a switchable model lacks, and
data too small for one batch (one process or several)."""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, TEST_CONFIGS, run_dist_train, run_tool

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.ops import using_width

TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
TEST = osp.join(REPO_ROOT, 'tools', 'test.py')
CLASSIFIER = osp.join(TEST_CONFIGS, 'tiny_cifar_classifier.py')
SLIMCLR = osp.join(TEST_CONFIGS, 'tiny_slimclr_mocov2.py')


def _data(root: str) -> list:
    return [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


@pytest.mark.parametrize('widths, match', [
    ([], 'distinct numbers in'),
    ([1.0, 0.5, 0.5], 'distinct numbers in'),
    ([1.0, 0.0], r'in \(0, 1\]'),
    ([1.0, 1.5], r'in \(0, 1\]'),
])
def test_switchable_width_lists(widths, match):
    with pytest.raises(ValueError, match=match):
        SlimResNet(18, width_mode='switchable', widths=widths)


def test_unsorted_width_list_is_the_sorted_one():
    torch.manual_seed(0)
    shuffled = SlimResNet(
        18, width_mode='switchable', widths=[0.5, 1.0, 0.25]).eval()
    ordered = SlimResNet(
        18, width_mode='switchable', widths=[1.0, 0.5, 0.25]).eval()
    assert shuffled.state_dict().keys() == ordered.state_dict().keys()
    ordered.load_state_dict(shuffled.state_dict())
    x = torch.randn(2, 3, 16, 16)
    for width in (1.0, 0.5, 0.25):
        with torch.no_grad(), using_width(shuffled, width), \
                using_width(ordered, width):
            assert torch.equal(shuffled(x)[0], ordered(x)[0])


@pytest.fixture(scope='module')
def r18_checkpoint(tmp_path_factory, tiny_cifar10) -> str:
    work_dir = str(tmp_path_factory.mktemp('r18'))
    run_tool([TRAIN, CLASSIFIER, '--work-dir', work_dir, '--cfg-options',
              *_data(tiny_cifar10)])
    return osp.join(work_dir, 'iter_2.pth')


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_checkpoint_of_another_depth(tmp_path, tiny_cifar10, r18_checkpoint,
                                     tool):
    work_dir = tmp_path / 'work'
    options = ['--cfg-options', 'model.backbone.depth=34',
               *_data(tiny_cifar10)]
    if tool == 'train':
        args = [TRAIN, CLASSIFIER, '--work-dir', str(work_dir), *options,
                f'load_from={r18_checkpoint}']
    else:
        args = [TEST, CLASSIFIER, r18_checkpoint, '--work-dir',
                str(work_dir), *options]
    result = run_tool(args, check=False)
    assert result.returncode != 0
    assert f'{r18_checkpoint} does not fit ImageClassifier' in result.stderr
    assert "missing key(s): ['backbone.layer1.2.bn1.bias'" in result.stderr
    assert not list(work_dir.rglob('*.pth')), 'nothing may be trained'


def test_sampler_width_outside_a_switchable_model(tmp_path, tiny_cifar10):
    result = run_tool([
        TRAIN, SLIMCLR, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}',
        'custom_hooks.0.sampler.sampler=[1.0,0.3]'
    ],
                      check=False)
    assert result.returncode != 0
    assert 'width=0.3 is not one of the switchable' in result.stderr
    assert not list((tmp_path / 'work').rglob('*.pth'))


def test_data_smaller_than_one_batch(tmp_path, tiny_cifar10):
    result = run_tool([
        TRAIN, SLIMCLR, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}',
        'train_dataloader.dataset.indices=8', 'train_dataloader.batch_size=16'
    ],
                      check=False)
    assert result.returncode == 1
    assert ('error: the train dataloader yields no batch: 8 samples over 1 '
            'process(es) is 8 per process, fewer than '
            'train_dataloader.batch_size=16 with drop_last=True'
            ) in result.stderr


@pytest.mark.timeout(300)
def test_dist_train_more_processes_than_samples(tmp_path, tiny_cifar10):
    result = run_dist_train(SLIMCLR, 2, [
        '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}',
        'train_dataloader.dataset.indices=16', 'train_dataloader.batch_size=16'
    ], timeout=240)
    assert result.returncode != 0
    assert ('16 samples over 2 process(es) is 8 per process, fewer than '
            'train_dataloader.batch_size=16') in result.stderr
    assert 'epoch_length' not in result.stderr
