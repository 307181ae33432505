# Copyright (c) slim_plugins contributors. All rights reserved.
"""An interrupted and resumed multi-width run logs the same losses.

Through ``tools/train.py``: 4 iterations in one go (checkpoints every 2),
versus 2 iterations then ``--resume`` to 4 in another work dir. The random
sandwich widths, the random flips, the parameters and the optimizer state
must all continue exactly, so every logged per-iteration value (losses per
width, whose keys name the sampled widths, learning rate, width summary)
is equal.
"""
import glob
import json
import os
import os.path as osp

import pytest
from conftest import REPO_ROOT, TEST_CONFIGS, run_tool

CONFIG = osp.join(TEST_CONFIGS, 'toy_multi_width_classifier.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
# Wall-clock entries differ between runs by nature.
TIMING_KEYS = {'time', 'data_time', 'eta', 'memory'}


def _train(work_dir: str,
           data_root: str,
           *options: str,
           resume: bool = False) -> str:
    """Run tools/train.py; return its output."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p
        for p in (osp.join(REPO_ROOT, 'tests', 'data'), env.get('PYTHONPATH'))
        if p)
    env.setdefault('OMP_NUM_THREADS', '1')
    data = [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    args = [TRAIN, CONFIG, '--work-dir', work_dir]
    if resume:
        args.append('--resume')
    result = run_tool([*args, '--cfg-options', *data, *options], env=env)
    return result.stdout + result.stderr


def _logged_iterations(work_dir: str) -> dict:
    """iteration -> logged scalars, over every run in ``work_dir``."""
    logged = {}
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as file:
            for line in file:
                record = json.loads(line)
                if 'iter' not in record:  # the validation at the end
                    continue
                step = record.pop('iter')
                assert step not in logged, f'iteration {step} logged twice'
                logged[step] = {
                    k: v
                    for k, v in record.items() if k not in TIMING_KEYS
                }
    return logged


# The kill -9 resume test of tests/test_tools/test_train_us3l.py stays
# in the default suite.
@pytest.mark.slow
def test_resumed_run_reproduces_uninterrupted_losses(tmp_path, tiny_cifar10):
    full_dir = str(tmp_path / 'full')
    _train(full_dir, tiny_cifar10)
    assert osp.isfile(osp.join(full_dir, 'iter_2.pth'))
    want = _logged_iterations(full_dir)

    split_dir = str(tmp_path / 'split')
    _train(split_dir, tiny_cifar10, 'train_cfg.max_iters=2')
    log = _train(split_dir, tiny_cifar10, resume=True)
    assert 'resumed' in log.lower()
    got = _logged_iterations(split_dir)

    assert sorted(want) == [1, 2, 3, 4]
    assert sorted(got) == sorted(want)
    for step in want:
        assert got[step].keys() == want[step].keys(), step
        for key, value in want[step].items():
            assert got[step][key] == value, (step, key, got[step][key], value)
    # The sandwich's middle width is random: it is logged by position
    # (``loss@rand1``), so the keys do not grow with every new width.
    per_width = [k for k in want[4] if k.startswith('loss@')]
    assert set(per_width) == {'loss@w1', 'loss@rand1', 'loss@w0.25'}
