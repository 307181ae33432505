# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/train.py on the US3L Fashion-MNIST config: killed with SIGKILL
mid-epoch and resumed it is the same run; --amp on the CPU.

US3L on Fashion-MNIST-format data (128 images, batch 16: 8 iterations per
epoch, 2 epochs, an iteration checkpoint every 4), widths from the sandwich
sampler, EMA teacher, GroupReg; CPU, one thread, ``num_workers=0``.
"""
import json
import math
import os
import os.path as osp
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist

from slim_plugins.utils.checkpoint import load_checkpoint_file

CONFIG = osp.join(REPO_ROOT, 'configs', 'us3l',
                  'us3l-simclr_slim-resnet18_1xb64-coslr-1e_fashion-mnist.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')


@pytest.fixture(scope='module')
def fashion_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('fashion_mnist_128'))
    write_tiny_fashion_mnist(root, num_train=128, num_test=8)
    return root


def _args(work_dir: str, data_root: str, *extra: str,
          max_epochs: int = 2) -> list:
    return [
        TRAIN, CONFIG, '--work-dir', work_dir, *extra, '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=16', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={max_epochs}',
        f'param_scheduler.0.T_max={max_epochs}',
        f'param_scheduler.0.end={max_epochs}',
        'default_hooks.checkpoint.by_epoch=False',
        'default_hooks.checkpoint.interval=4',
        'default_hooks.checkpoint.max_keep_ckpts=10',
        'default_hooks.logger.interval=1'
    ]


def _losses(work_dir: str) -> dict:
    """``{iteration: loss}`` of every scalars.json under ``work_dir``."""
    losses = {}
    for root, _, files in os.walk(work_dir):
        if 'scalars.json' in files:
            with open(osp.join(root, 'scalars.json')) as file:
                for line in file:
                    record = json.loads(line)
                    if 'loss' in record:
                        losses[record['step']] = record['loss']
    return losses


def _written(work_dir: str) -> str:
    """The checkpoint named by ``last_checkpoint`` (written after it)."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.exists(path):
        return ''
    with open(path) as file:
        return file.read().strip()


@pytest.mark.timeout(600)
def test_kill_9_and_resume_is_the_uninterrupted_run(tmp_path, fashion_root):
    full_dir = str(tmp_path / 'full')
    run_tool(_args(full_dir, fashion_root))
    want_losses = _losses(full_dir)
    assert sorted(want_losses) == list(range(1, 17))
    want = load_checkpoint_file(osp.join(full_dir, 'iter_16.pth'))
    assert want['meta']['iter'] == 16

    killed_dir = str(tmp_path / 'killed')
    process = subprocess.Popen([sys.executable, *_args(killed_dir,
                                                       fashion_root)],
                               cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not _written(killed_dir) and process.poll() is None:
            assert time.monotonic() < deadline, 'no checkpoint in 300 s'
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    resumed_from = _written(killed_dir)
    assert resumed_from and not resumed_from.endswith('iter_16.pth')
    done = load_checkpoint_file(resumed_from)['meta']['iter']
    assert done % 8, 'the checkpoint must be mid-epoch for this test'

    log = run_tool(_args(killed_dir, fashion_root, '--resume')).stdout
    assert f'Auto resumed from the latest checkpoint {resumed_from}' in log
    got_losses = _losses(killed_dir)
    assert sorted(got_losses) == list(range(1, 17))
    for step in range(done + 1, 17):
        assert got_losses[step] == want_losses[step], step
    # Exactly the 16 iterations of the schedule, no more.
    assert not osp.exists(osp.join(killed_dir, 'iter_20.pth'))
    got = load_checkpoint_file(osp.join(killed_dir, 'iter_16.pth'))
    assert got['meta']['iter'] == 16
    assert got['state_dict'].keys() == want['state_dict'].keys()
    assert any(key.startswith('target_net.') for key in want['state_dict'])
    for key, value in want['state_dict'].items():
        assert torch.equal(got['state_dict'][key], value), key
    assert got['width_sampler'] == want['width_sampler']


def test_plain_epoch_loop_refuses_a_mid_epoch_resume(tmp_path, fashion_root):
    work_dir = str(tmp_path / 'work')
    run_tool(_args(work_dir, fashion_root, max_epochs=1))
    result = run_tool(
        _args(work_dir, fashion_root, '--resume',
              osp.join(work_dir, 'iter_4.pth'), '--cfg-options',
              'train_cfg.type=EpochBasedTrainLoop', max_epochs=1),
        check=False)
    assert result.returncode != 0
    assert 'after 4 of the 8 batches of epoch 0' in result.stderr
    assert 'ResumableEpochBasedTrainLoop' in result.stderr


def test_corrupt_checkpoint_and_empty_work_dir(tmp_path, fashion_root):
    work_dir = str(tmp_path / 'work')
    # --resume with nothing to resume says so, then trains from the start.
    first = run_tool(_args(work_dir, fashion_root, '--resume', max_epochs=1))
    assert '--resume found no checkpoint in' in first.stderr
    good = osp.join(work_dir, 'iter_8.pth')
    with open(good, 'rb') as file:
        data = file.read()
    for name, broken in (('truncated', data[:len(data) // 2]),
                         ('noise', random.Random(0).randbytes(4096))):
        path = osp.join(work_dir, f'{name}.pth')
        with open(path, 'wb') as file:
            file.write(broken)
        result = run_tool(
            _args(work_dir, fashion_root, '--resume', path, max_epochs=1),
            check=False)
        assert result.returncode != 0
        assert f'checkpoint {path}' in result.stderr
        assert 'truncated or corrupted' in result.stderr
        assert 'Traceback' not in result.stderr
    # Nothing was written over the good checkpoints.
    with open(good, 'rb') as file:
        assert file.read() == data
    assert _written(work_dir).endswith('iter_8.pth')


def test_amp_on_cpu_trains_in_bfloat16(tmp_path, fashion_root):
    work_dir = str(tmp_path / 'amp')
    result = run_tool(
        _args(work_dir, fashion_root, '--amp', '--cfg-options',
              'train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=32',
              max_epochs=1))
    assert "type='CPUAmpOptimWrapper'" in result.stdout
    losses = _losses(work_dir)
    assert sorted(losses) == [1, 2]
    assert all(math.isfinite(loss) for loss in losses.values())
    plain = str(tmp_path / 'fp32')
    run_tool(
        _args(plain, fashion_root, '--cfg-options',
              'train_dataloader.dataset.indices=32', max_epochs=1))
    # The same run in float32 differs: autocast did change the arithmetic.
    assert _losses(plain)[1] != losses[1]
