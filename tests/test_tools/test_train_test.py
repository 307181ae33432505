# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/train.py -> --resume -> tools/test.py on tiny data, and bad input."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, TEST_CONFIGS, run_dist_train, run_tool

import slim_plugins  # noqa: F401
from slim_plugins.utils.checkpoint import load_checkpoint_file

CONFIG = osp.join(TEST_CONFIGS, 'tiny_cifar_classifier.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
TEST = osp.join(REPO_ROOT, 'tools', 'test.py')


def data_options(data_root):
    return [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]


def test_train_resume_test(tmp_path, tiny_cifar10):
    work_dir = tmp_path / 'work'
    # cwd is an empty folder so that any file written outside the work dir
    # shows up in it.
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    run_tool([
        TRAIN, CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *data_options(tiny_cifar10)
    ],
             cwd=str(cwd))
    assert (work_dir / 'iter_2.pth').is_file()
    first = load_checkpoint_file(work_dir / 'iter_2.pth')
    assert first['meta']['iter'] == 2

    # Resume from the explicit checkpoint and train one more iteration.
    result = run_tool([
        TRAIN, CONFIG, '--work-dir',
        str(work_dir), '--resume',
        str(work_dir / 'iter_2.pth'), '--cfg-options',
        'train_cfg.max_iters=3', *data_options(tiny_cifar10)
    ],
                      cwd=str(cwd))
    assert 'resumed' in result.stdout + result.stderr
    resumed = load_checkpoint_file(work_dir / 'iter_3.pth')
    assert resumed['meta']['iter'] == 3
    # The optimizer state came back too: momentum buffers exist.
    assert resumed['optimizer']['state']

    metrics_file = tmp_path / 'metrics.json'
    run_tool([
        TEST, CONFIG,
        str(work_dir / 'iter_3.pth'), '--work-dir',
        str(work_dir), '--out',
        str(metrics_file), '--out-item', 'metrics', '--cfg-options',
        *data_options(tiny_cifar10)
    ],
             cwd=str(cwd))
    metrics = json.loads(metrics_file.read_text())
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert sorted(os.listdir(cwd)) == []


# Resume stays in the default suite through test_train_resume_test and the
# kill -9 test.
@pytest.mark.slow
def test_auto_resume_and_load_from(tmp_path, tiny_cifar10):
    work_dir = tmp_path / 'work'
    run_tool([
        TRAIN, CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *data_options(tiny_cifar10)
    ])
    # `--resume` without a path picks the latest checkpoint of the work dir.
    run_tool([
        TRAIN, CONFIG, '--work-dir',
        str(work_dir), '--resume', '--cfg-options', 'train_cfg.max_iters=3',
        *data_options(tiny_cifar10)
    ])
    assert load_checkpoint_file(work_dir / 'iter_3.pth')['meta']['iter'] == 3
    # load_from and a Pretrained init_cfg read the same runner checkpoint;
    # with lr=0 the loaded conv weights come out of training unchanged.
    source = load_checkpoint_file(work_dir / 'iter_3.pth')['state_dict']
    for name, options in [
        ('load_from', [f'load_from={work_dir / "iter_3.pth"}']),
        ('pretrained', [
            'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={work_dir / "iter_3.pth"}',
            'model.backbone.init_cfg.prefix=backbone.'
        ]),
    ]:
        out = tmp_path / name
        run_tool([
            TRAIN, CONFIG, '--work-dir',
            str(out), '--cfg-options', 'train_cfg.max_iters=1',
            'optim_wrapper.optimizer.lr=0.', *options,
            *data_options(tiny_cifar10)
        ])
        loaded = load_checkpoint_file(out / 'iter_1.pth')['state_dict']
        for key in ('backbone.conv1.weight',
                    'backbone.layer4.1.conv2.weight'):
            assert torch.equal(loaded[key], source[key]), (name, key)


def test_checkpoint_loads_with_weights_only(tmp_path, tiny_cifar10):
    """Runner checkpoints load through the package's restricted loader;
    importing the package does not widen torch's own ``weights_only``."""
    work_dir = tmp_path / 'work'
    run_tool([
        TRAIN, CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', *data_options(tiny_cifar10)
    ])
    ckpt = str(work_dir / 'iter_2.pth')
    plain = subprocess.run(
        [sys.executable, '-c', f'import torch; torch.load({ckpt!r})'],
        capture_output=True,
        text=True)
    assert plain.returncode != 0
    assert 'Weights only load failed' in plain.stderr
    imported = subprocess.run([
        sys.executable, '-c',
        f'import slim_plugins, torch; torch.load({ckpt!r})'
    ],
                              capture_output=True,
                              text=True)
    assert imported.returncode != 0
    assert 'Weights only load failed' in imported.stderr
    from mmengine.logging import HistoryBuffer

    loaded = load_checkpoint_file(ckpt)
    scalars = loaded['message_hub']['log_scalars']
    assert scalars and all(
        isinstance(buffer, HistoryBuffer) for buffer in scalars.values())
    loss = scalars['train/loss']
    assert isinstance(loss._log_history, np.ndarray)
    assert loss._log_history.dtype == np.float64
    assert len(loss._log_history) == 2 and np.isfinite(loss.mean())


def test_dist_train_two_cpu_processes(tmp_path, tiny_cifar10):
    work_dir = tmp_path / 'dist'
    result = run_dist_train(
        CONFIG, 2,
        ['--work-dir',
         str(work_dir), '--cfg-options', *data_options(tiny_cifar10)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[
        -3000:]
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    # mmengine reports the world size as the "GPU number", CPU or not.
    assert 'GPU number: 2' in log
    ckpt = load_checkpoint_file(work_dir / 'iter_2.pth')
    assert ckpt['meta']['iter'] == 2


@pytest.mark.parametrize('case', ['data_root', 'type', 'checkpoint', 'cfg'])
def test_bad_input_is_one_clear_message(tmp_path, tiny_cifar10, case):
    work_dir = tmp_path / 'work'
    args = [TRAIN, CONFIG, '--work-dir', str(work_dir), '--cfg-options']
    if case == 'data_root':
        args += data_options(str(tmp_path / 'missing'))
        expected = 'does not exist'
    elif case == 'type':
        args += ['model.backbone.type=ResNetTypo', *data_options(tiny_cifar10)]
        expected = 'ResNetTypo'
    elif case == 'checkpoint':
        args += [f'load_from={tmp_path / "nope.pth"}',
                 *data_options(tiny_cifar10)]
        expected = 'nope.pth'
    else:
        args = [TRAIN, str(tmp_path / 'no_such_config.py')]
        expected = 'no_such_config.py'
    result = run_tool(args, check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error:') and expected in result.stderr
    if case != 'type':
        # Nothing was built, so nothing was written.
        assert not work_dir.exists()


def test_test_tool_missing_checkpoint(tmp_path, tiny_cifar10):
    result = run_tool([
        TEST, CONFIG,
        str(tmp_path / 'missing.pth'), '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', *data_options(tiny_cifar10)
    ],
                      check=False)
    assert result.returncode == 1
    assert 'missing.pth' in result.stderr and 'does not exist' in \
        result.stderr
    shutil.rmtree(tmp_path / 'w', ignore_errors=True)
