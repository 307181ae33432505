# Copyright (c) slim_plugins contributors. All rights reserved.
"""RNGStateHook: checkpoints carry the random streams, --resume continues.

In-process runs with a real (tiny) mmengine Runner whose data pipeline draws
from numpy, whose model draws from Python's ``random`` and torch (dropout),
and whose validation draws too; then ``tools/train.py`` with mmpretrain's
Mixup in the data preprocessor, with and without dataloader workers.
"""
import glob
import logging
import os
import os.path as osp
import random
import shutil
import uuid
from typing import List, Optional

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from conftest import REPO_ROOT, free_port, gloo_group, spawn_workers
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from test_resume_equality import _logged_iterations, _train
from torch.utils.data import Dataset

from slim_plugins.engine.hooks import RNGStateHook
from slim_plugins.registry import HOOKS
from slim_plugins.utils.checkpoint import load_checkpoint_file


class NoisyData(Dataset):
    """Samples plus a numpy-drawn offset: a random 'augmentation'."""

    def __init__(self, size: int = 8) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, idx: int) -> dict:
        gen = torch.Generator().manual_seed(idx)
        inputs = torch.randn(4, generator=gen) + float(np.random.rand())
        return dict(inputs=inputs, data_samples=torch.tensor(idx % 2))


class NoisyModel(BaseModel):
    """Linear classifier with dropout and a Python-random loss scale.

    Records the loss of every training step in ``history``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)
        self.history: List[float] = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        logits = self.fc(self.drop(inputs))
        if mode == 'loss':
            loss = F.cross_entropy(logits,
                                   data_samples) * (1 + random.random())
            self.history.append(loss.item())
            return dict(loss=loss)
        return list(logits.sum(dim=1))


class MeanOutput(BaseMetric):
    """Mean of the predicted values."""

    default_prefix = 'noisy'

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(float(x) for x in data_samples)

    def compute_metrics(self, results: list) -> dict:
        return dict(mean=sum(results) / len(results))


def _runner(work_dir: str,
            by_epoch: bool = False,
            resume_from: Optional[str] = None,
            load_from: Optional[str] = None,
            enable: bool = True,
            length: Optional[int] = None,
            distributed: bool = False) -> Runner:
    """Iter-based: 6 iterations (4 per epoch), checkpoint and validation
    every 3. Epoch-based: 3 epochs, checkpoint and validation every epoch.
    ``length`` stops earlier (iterations or epochs). ``distributed``: DDP
    on CPU in an initialised process group, one seed per rank."""
    ddp = dict(
        launcher='pytorch',
        cfg=dict(
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel', device_ids=None)),
    ) if distributed else {}
    torch.manual_seed(0)  # the same initial weights in every run
    loader = dict(
        # 4 batches per epoch; under DDP 6 per rank (no epoch change, which
        # costs mmengine's iter-based loop 2 s each).
        dataset=NoisyData(24 if distributed else 8),
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        batch_size=2,
        num_workers=0)
    if by_epoch:
        train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=length or 3)
        checkpoint = dict(type='CheckpointHook', interval=1)
    else:
        train_cfg = dict(
            type='IterBasedTrainLoop', max_iters=length or 6, val_interval=3)
        checkpoint = dict(type='CheckpointHook', interval=3, by_epoch=False)
    return Runner(
        model=NoisyModel(),
        work_dir=work_dir,
        experiment_name=f'rng_{uuid.uuid4().hex}',
        train_dataloader=loader,
        val_dataloader=dict(
            loader, sampler=dict(type='DefaultSampler', shuffle=False)),
        val_evaluator=[MeanOutput()],
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=train_cfg,
        default_hooks=dict(
            checkpoint_loading=dict(type='CheckpointLoadingHook'),
            checkpoint=checkpoint,
            rng_state=dict(type='RNGStateHook', enable=enable)),
        resume=resume_from is not None,
        load_from=resume_from or load_from,
        randomness=dict(seed=0, diff_rank_seed=distributed),
        default_scope='slim_plugins',
        log_level='WARNING',
        **ddp)


def _draws() -> list:
    return [
        random.random(),
        np.random.rand(2).tolist(),
        torch.rand(2).tolist()
    ]


def _draws_from_here() -> list:
    """The next draws, without consuming them."""
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    draws = _draws()
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])
    return draws


class _Records(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _resume_and_start_epoch(runner: Runner) -> List[str]:
    """Resume/load as ``Runner.train`` does, then start the epoch; return
    the warnings logged."""
    records = _Records()
    runner.logger.addHandler(records)
    try:
        runner.load_or_resume()
        runner.call_hook('before_train_epoch')
    finally:
        runner.logger.removeHandler(records)
    return records.messages


@pytest.fixture
def saved(tmp_path):
    """A checkpoint saved by a runner, and the draws right after saving."""
    runner = _runner(str(tmp_path / 'save'), by_epoch=True)
    runner.save_checkpoint(
        str(tmp_path),
        'saved.pth',
        save_optimizer=False,
        save_param_scheduler=False)
    expected = _draws()
    _draws()  # the generators move on
    return str(tmp_path / 'saved.pth'), expected


def test_resume_restores_python_numpy_and_torch(tmp_path, saved):
    path, expected = saved
    # The saved state is plain data: it loads with weights_only=True.
    checkpoint = load_checkpoint_file(path)
    assert len(checkpoint['rng_state']) == 1  # one state per rank

    # Whatever the new run drew before, the resumed epoch continues the
    # saved streams.
    runner = _runner(str(tmp_path / 'resume'), by_epoch=True, resume_from=path)
    _draws()
    _resume_and_start_epoch(runner)
    assert _draws() == expected


def test_load_from_leaves_the_generators_alone(tmp_path, saved):
    path, expected = saved
    runner = _runner(str(tmp_path / 'load'), by_epoch=True, load_from=path)
    _draws()
    before = _draws_from_here()
    _resume_and_start_epoch(runner)
    assert _draws() == before
    assert before != expected


@pytest.mark.parametrize('case', ['world_size', 'missing'])
def test_unusable_state_warns_and_is_not_restored(tmp_path, saved, case):
    path, expected = saved
    checkpoint = load_checkpoint_file(path)
    if case == 'world_size':  # saved by 2 processes, resumed by 1
        checkpoint['rng_state'] = checkpoint['rng_state'] * 2
        message = 'random states of 2 process(es) but this run has 1'
    else:  # saved without the hook
        del checkpoint['rng_state']
        message = 'the checkpoint has no "rng_state"'
    edited = str(tmp_path / 'edited.pth')
    torch.save(checkpoint, edited)

    runner = _runner(
        str(tmp_path / 'resume'), by_epoch=True, resume_from=edited)
    _draws()
    before = _draws_from_here()
    warnings = _resume_and_start_epoch(runner)
    assert sum(message in w for w in warnings) == 1, warnings
    assert _draws() == before != expected


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match='enable'):
        RNGStateHook(enable='yes')
    runner = _runner(str(tmp_path), resume_from='unused.pth')
    with pytest.raises(TypeError, match='one state per rank'):
        RNGStateHook().after_load_checkpoint(runner, dict(rng_state='x'))


@pytest.mark.parametrize('by_epoch', [False, True])
def test_resumed_training_continues_every_stream(tmp_path, by_epoch):
    full = _runner(str(tmp_path / 'full'), by_epoch=by_epoch)
    full.train()
    want = full.model.history
    assert len(want) == (12 if by_epoch else 6)

    split_dir = str(tmp_path / 'split')
    if by_epoch:  # stop after the first of 3 epochs (4 iterations each)
        first = _runner(split_dir, by_epoch=True, length=1)
        ckpt, done = osp.join(split_dir, 'epoch_1.pth'), 4
    else:  # stop after 3 of 6 iterations
        first = _runner(split_dir, by_epoch=False, length=3)
        ckpt, done = osp.join(split_dir, 'iter_3.pth'), 3
    first.train()
    assert first.model.history == want[:done]

    # The checkpoint coincides with a validation, which draws random
    # numbers (pipeline, data iterator): the hook keeps them out of the
    # training stream, else the resumed run (no validation there) differs.
    resumed = _runner(split_dir, by_epoch=by_epoch, resume_from=ckpt)
    resumed.train()
    assert resumed.model.history == want[done:]

    # Without the hook the same resume draws other numbers: the scenario
    # does exercise the generators.
    off = _runner(
        str(tmp_path / 'off'),
        by_epoch=by_epoch,
        resume_from=ckpt,
        enable=False)
    off.train()
    assert len(off.model.history) == len(want) - done
    assert off.model.history != want[done:]


def _dist_worker(rank: int, world_size: int, port: int, work_dir: str) -> None:
    os.environ['LOCAL_RANK'] = str(rank)  # read by Runner.wrap_model
    torch.set_num_threads(1)
    with gloo_group(rank, world_size, port):
        # The runners (and their DDP models) die with the function's frame,
        # before the group is destroyed.
        _dist_resume(rank, world_size, work_dir)


def _dist_resume(rank: int, world_size: int, work_dir: str) -> None:
    full = _runner(osp.join(work_dir, 'full'), distributed=True)
    full.train()
    want = full.model.module.history
    split_dir = osp.join(work_dir, 'split')
    _runner(split_dir, length=3, distributed=True).train()
    dist.barrier()
    ckpt = osp.join(split_dir, 'iter_3.pth')
    states = load_checkpoint_file(ckpt)['rng_state']
    assert len(states) == world_size
    # One seed per rank: the ranks' streams differ.
    assert not torch.equal(states[0]['torch'], states[1]['torch'])
    resumed = _runner(split_dir, resume_from=ckpt, distributed=True)
    resumed.train()
    got = resumed.model.module.history
    assert got == want[3:], (rank, got, want[3:])


def test_distributed_resume_restores_each_rank(tmp_path):
    # Only rank 0 saves checkpoints (Runner.save_checkpoint is master-only),
    # so the hook gathers the states of both ranks before CheckpointHook.
    spawn_workers(_dist_worker, (2, free_port(), str(tmp_path)), timeout=240)


def test_every_slim_plugins_config_enables_the_hook():
    paths = [
        p for p in glob.glob(
            osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
        if '_base_' not in p and 'mmdetection' not in p
    ]
    assert paths
    for path in paths:
        cfg = Config.fromfile(path)
        assert cfg.default_scope == 'slim_plugins', path
        hook = HOOKS.build(cfg.default_hooks['rng_state'])
        assert isinstance(hook, RNGStateHook) and hook.enable, path


# ---------------------------------------------------------------------------
# tools/train.py with Mixup (numpy beta + torch randperm in the model's data
# preprocessor, i.e. inside train_step), validating at the checkpoint
# iteration (validation draws random numbers too).
MIXUP = ('model.data_preprocessor.batch_augments.augments.type=Mixup',
         'model.data_preprocessor.batch_augments.augments.alpha=1.0',
         'train_cfg.val_interval=2')


def _assert_same_logs(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want) == [1, 2, 3, 4]
    for step in want:
        assert got[step] == want[step], (step, got[step], want[step])


@pytest.mark.parametrize('num_workers', [
    0,
    pytest.param(1, marks=pytest.mark.slow),
])
def test_train_tool_resume_with_mixup(tmp_path, tiny_cifar10, num_workers):
    options = (*MIXUP, f'train_dataloader.num_workers={num_workers}')
    full_dir = str(tmp_path / 'full')
    _train(full_dir, tiny_cifar10, *options)
    want = _logged_iterations(full_dir)

    split_dir = str(tmp_path / 'split')
    _train(split_dir, tiny_cifar10, *options, 'train_cfg.max_iters=2')
    off_dir = str(tmp_path / 'off')
    shutil.copytree(split_dir, off_dir)
    log = _train(split_dir, tiny_cifar10, *options, resume=True)
    assert 'restored the random number generators' in log
    _assert_same_logs(_logged_iterations(split_dir), want)

    if not num_workers:
        return  # the in-process test above shows the hook-off case cheaply
    # The same resume with the hook off diverges after the checkpoint.
    with open(osp.join(off_dir, 'last_checkpoint'), 'w') as file:
        file.write(osp.join(off_dir, 'iter_2.pth'))
    _train(
        off_dir,
        tiny_cifar10,
        *options,
        'default_hooks.rng_state.enable=False',
        resume=True)
    off = _logged_iterations(off_dir)
    assert off[2] == want[2]
    assert off[3]['loss'] != want[3]['loss']
