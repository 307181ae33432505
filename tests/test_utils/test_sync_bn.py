# Copyright (c) slim_plugins contributors. All rights reserved.
"""convert_sync_batchnorm, the sync slim BN layers and SyncSlimBNHook.

CPU only: single-process equality with the unconverted layers, and a
2-process gloo group whose synchronised statistics, gradients and training
step equal those of one process on the union of both batches.
"""
import copy
import os
import uuid

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from conftest import free_port, gloo_group, spawn_workers
from mmengine.model import BaseModel
from mmengine.model import convert_sync_batchnorm as mmengine_convert
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from torch.utils.data import Dataset, default_collate

from slim_plugins.engine.hooks import SyncSlimBNHook
from slim_plugins.models.algorithms import MultiWidthTrainMixin
from slim_plugins.models.backbones import SlimResNet
from slim_plugins.ops import (AllGatherSyncBatchNorm, SlimBatchNorm1d,
                              SlimBatchNorm2d, SlimConv2d, SlimLinear,
                              SwitchableBatchNorm2d, SyncSlimBatchNorm1d,
                              SyncSlimBatchNorm2d, SyncSwitchableBatchNorm2d,
                              set_width, share_width_state, slim_ops,
                              using_width)
from slim_plugins.ops.slim_bn import _SlimBatchNormMixin
from slim_plugins.utils import convert_sync_batchnorm

MODES = ['universal', 'switchable']
WIDTHS = [1.0, 0.5]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: extra threads only contend on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _resnet(mode: str) -> SlimResNet:
    torch.manual_seed(0)
    return SlimResNet(
        18,
        stem='cifar',
        stem_channels=8,
        base_channels=8,
        width_mode=mode,
        width_range=(0.25, 1.0),
        widths=WIDTHS,
        channel_rule='int')


def _images(seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 8, 8, generator=gen)


def _slim_bns(model: nn.Module) -> list:
    return [m for m in model.modules() if isinstance(m, _SlimBatchNormMixin)]


@pytest.mark.parametrize('mode', MODES)
def test_torch_converter_loses_the_width_logic(mode):
    model = _resnet(mode).eval()
    for converted in (nn.SyncBatchNorm.convert_sync_batchnorm(
            copy.deepcopy(model)), mmengine_convert(copy.deepcopy(model))):
        # Every slim/switchable BN became a plain SyncBatchNorm ...
        assert _slim_bns(converted) == []
        assert isinstance(converted.bn1, nn.SyncBatchNorm)
        # ... which cannot run below full width.
        set_width(converted, 0.5)
        with pytest.raises(RuntimeError):
            converted(_images())


@pytest.mark.parametrize('implementation', ['torch', 'slim'])
@pytest.mark.parametrize('mode', MODES)
def test_conversion_keeps_classes_keys_tensors_and_width(mode, implementation):
    model = _resnet(mode)
    before = model.state_dict(keep_vars=True)
    num_slim = len(_slim_bns(model))
    assert convert_sync_batchnorm(model, implementation) is model

    after = model.state_dict(keep_vars=True)
    assert list(after) == list(before)
    # The very same parameters and buffers (the optimizer and DDP hold them).
    assert all(after[key] is before[key] for key in before)
    sync_cls = (
        SyncSlimBatchNorm2d
        if mode == 'universal' else SyncSwitchableBatchNorm2d)
    assert [type(m) for m in _slim_bns(model)] == [sync_cls] * num_slim
    assert all(op.width_state is model.width_state for op in slim_ops(model))
    if mode == 'switchable':
        plain = (
            nn.SyncBatchNorm
            if implementation == 'torch' else AllGatherSyncBatchNorm)
        children = list(model.bn1.switch_bns.values())
        assert children and all(type(bn) is plain for bn in children)
    # Runs at every width, outputs of the right size.
    for width in WIDTHS:
        with using_width(model, width):
            out = model(_images())[-1]
        assert out.shape[1] == int(64 * width)
    # Converting again is a no-op; mmengine's revert (non-distributed
    # runner) keeps the slim layers.
    assert convert_sync_batchnorm(model, implementation) is model
    assert [type(m) for m in _slim_bns(model)] == [sync_cls] * num_slim
    reverted = revert_sync_batchnorm(model)
    assert [type(m) for m in _slim_bns(reverted)] == [sync_cls] * num_slim


def test_plain_bn_is_replaced_like_torch_and_bad_input():
    head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    head[1].eval()
    weight = head[1].weight
    converted = convert_sync_batchnorm(head, 'slim')
    assert type(converted[1]) is AllGatherSyncBatchNorm
    assert converted[1].weight is weight and not converted[1].training
    single = convert_sync_batchnorm(SlimBatchNorm1d(8), 'torch')
    assert type(single) is SyncSlimBatchNorm1d

    with pytest.raises(ValueError, match='implementation'):
        convert_sync_batchnorm(head, 'apex')
    with pytest.raises(ValueError, match='implementation'):
        SyncSlimBNHook(implementation='apex')

    class MySlimBN(SlimBatchNorm2d):
        pass

    with pytest.raises(TypeError, match='SYNC_SLIM_BN'):
        convert_sync_batchnorm(nn.Sequential(MySlimBN(8)))


def _train_step(model: nn.Module, width: float, seed: int) -> tuple:
    """Forward + backward at ``width``; outputs, grads and buffers."""
    model.zero_grad()
    with using_width(model, width):
        outs = model(_images(seed))
    sum((o * o).mean() for o in outs).backward()
    # Unused widths' switchable BNs get no gradient: compare as zeros.
    grads = {
        n: torch.zeros_like(p) if p.grad is None else p.grad.clone()
        for n, p in model.named_parameters()
    }
    return outs, grads, copy.deepcopy(model.state_dict())


@pytest.mark.parametrize('implementation', ['torch', 'slim'])
@pytest.mark.parametrize('mode', MODES)
def test_without_process_group_equals_unconverted(mode, implementation):
    # (b) train mode, no process group: local batch statistics, bitwise.
    original = _resnet(mode)
    converted = convert_sync_batchnorm(copy.deepcopy(original), implementation)
    for step, width in enumerate(WIDTHS):
        want = _train_step(original, width, step)
        got = _train_step(converted, width, step)
        for a, b in zip(want[0], got[0]):
            assert torch.equal(a, b)
        for part in (1, 2):
            assert want[part].keys() == got[part].keys()
            for key in want[part]:
                assert torch.equal(want[part][key], got[part][key]), key
    # (a) eval mode, with the running statistics collected above.
    original.eval()
    converted.eval()
    for width in WIDTHS:
        with using_width(original, width), using_width(converted, width):
            for a, b in zip(original(_images(9)), converted(_images(9))):
                assert torch.equal(a, b)


# --------------------------------------------------------------------------
# 2 processes (gloo): synchronised statistics == one process, full batch
# --------------------------------------------------------------------------
def _bn_cases() -> dict:
    """name -> (layer, width, full input shape)."""
    torch.manual_seed(0)
    cases = {
        'slim2d@1.0': (SlimBatchNorm2d(16, channel_rule='int'), 1.0, (8, 16, 3,
                                                                      3)),
        'slim2d@0.5': (SlimBatchNorm2d(16,
                                       channel_rule='int'), 0.5, (8, 8, 3, 3)),
        'slim1d@0.5_cumulative':
        (SlimBatchNorm1d(16, momentum=None, channel_rule='int'), 0.5, (8, 8)),
        'switchable@1.0':
        (SwitchableBatchNorm2d(16, widths=WIDTHS,
                               channel_rule='int'), 1.0, (8, 16, 3, 3)),
        'switchable@0.5':
        (SwitchableBatchNorm2d(16, widths=WIDTHS,
                               channel_rule='int'), 0.5, (8, 8, 3, 3)),
        'plain2d': (nn.BatchNorm2d(16), None, (8, 16, 3, 3)),
        'slim2d_untracked@0.5':
        (SlimBatchNorm2d(16, track_running_stats=False,
                         channel_rule='int'), 0.5, (8, 8, 3, 3)),
    }
    for bn, width, _ in cases.values():
        for param in bn.parameters():
            param.data.uniform_(0.5, 1.5)
        if width is not None:
            set_width(bn, width)
    return cases


def _check_layers(rank: int) -> None:
    # Unequal local batches: rank 0 holds rows 0-2, rank 1 rows 3-7.
    lo, hi = (0, 3) if rank == 0 else (3, 8)
    for name, (bn, width, shape) in _bn_cases().items():
        reference = copy.deepcopy(bn)
        sync = convert_sync_batchnorm(copy.deepcopy(bn), 'slim')
        for step in range(2):
            gen = torch.Generator().manual_seed(step)
            # Offset inputs: a naive E[x^2] - E[x]^2 would lose precision.
            full = torch.randn(shape, generator=gen) * 2 + 5
            weights = torch.randn(shape, generator=gen)
            x_ref = full.clone().requires_grad_()
            x_loc = full[lo:hi].clone().requires_grad_()
            y_ref = reference(x_ref)
            y_loc = sync(x_loc)
            (y_ref * weights).sum().backward()
            (y_loc * weights[lo:hi]).sum().backward()
            msg = f'rank {rank}, {name}, step {step}'
            torch.testing.assert_close(
                y_loc, y_ref[lo:hi], atol=1e-5, rtol=1e-5, msg=msg)
            torch.testing.assert_close(
                x_loc.grad, x_ref.grad[lo:hi], atol=1e-5, rtol=1e-5, msg=msg)
        for (pname, got), want in zip(sync.named_parameters(),
                                      reference.parameters()):
            if want.grad is None:  # another width's switchable BN
                assert got.grad is None, f'{name} {pname}'
                continue
            total = got.grad.clone()
            dist.all_reduce(total)
            torch.testing.assert_close(
                total, want.grad, atol=1e-4, rtol=1e-5, msg=f'{name} {pname}')
        for (bname, got), want in zip(sync.named_buffers(),
                                      reference.buffers()):
            torch.testing.assert_close(
                got, want, atol=1e-5, rtol=1e-5, msg=f'{name} {bname}')
        # Eval mode never synchronises: the local computation of the
        # unconverted layer (local batch statistics when untracked; the
        # inputs differ between ranks).
        sync.eval()
        reference.eval()
        x = torch.randn((3, ) + shape[1:]) + 3 * rank
        torch.testing.assert_close(
            sync(x), reference(x), atol=1e-5, rtol=1e-5, msg=name)


class SyncToy(MultiWidthTrainMixin, BaseModel):
    """Multi-width toy with a slim BN in the backbone and a plain BN head."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            SlimConv2d(3, 8, 3, padding=1, slim_in=False, channel_rule='int'),
            SlimBatchNorm2d(8, channel_rule='int'), nn.ReLU())
        self.head = SlimLinear(8, 3, channel_rule='int')
        self.head_bn = nn.BatchNorm1d(3)
        share_width_state(self)
        self.init_multi_width('accumulate', 'uniform', [1.0, 0.5, 0.25])

    def forward(self, inputs, data_samples=None, mode='loss'):
        feats = self.backbone(inputs).mean(dim=(2, 3))
        logits = self.head_bn(self.head(feats))
        return dict(loss=F.cross_entropy(logits, data_samples))


class ToyData(Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, idx: int) -> dict:
        gen = torch.Generator().manual_seed(idx)
        return dict(
            inputs=torch.randn(3, 8, 8, generator=gen) + 3,
            data_samples=torch.tensor(idx % 3))


def _check_runner(rank: int, work_dir: str) -> None:
    """SyncSlimBNHook + MultiWidthDistributedDataParallel in a Runner."""
    torch.manual_seed(0)
    model = SyncToy()
    reference = copy.deepcopy(model)
    optimizer = dict(type='SGD', lr=0.1, momentum=0.9)
    runner = Runner(
        model=model,
        work_dir=work_dir,
        experiment_name=f'sync_bn_{os.path.basename(work_dir)}',
        launcher='pytorch',
        # mmengine reads the wrapper from the config, as from a file.
        cfg=dict(
            model_wrapper_cfg=dict(
                type='slim_plugins.MultiWidthDistributedDataParallel',
                device_ids=None)),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=optimizer),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=1),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[dict(type='SyncSlimBNHook', implementation='slim')],
        default_scope='slim_plugins',
        log_level='WARNING')
    runner.train()
    trained = runner.model.module
    assert type(trained.backbone[1]) is SyncSlimBatchNorm2d
    assert type(trained.head_bn) is AllGatherSyncBatchNorm

    # One process, the union of both ranks' batches, unconverted model.
    full = default_collate([ToyData()[i] for i in range(4)])
    reference.train_step(
        full,
        OptimWrapper(
            torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)))
    want = reference.state_dict()
    for key, got in trained.state_dict().items():
        torch.testing.assert_close(
            got, want[key], atol=1e-5, rtol=1e-5, msg=f'rank {rank}: {key}')


def _worker(rank: int, world_size: int, port: int, work_dir: str) -> None:
    os.environ.pop('CUDA_VISIBLE_DEVICES', None)
    os.environ.update(
        LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(world_size))
    torch.set_num_threads(1)
    with gloo_group(rank, world_size, port):
        _check_layers(rank)
        _check_runner(rank, work_dir)


def test_two_gloo_processes_equal_one_process_full_batch(tmp_path):
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip('torch.distributed with gloo is not available')
    work_dir = str(tmp_path / uuid.uuid4().hex)
    try:
        spawn_workers(_worker, (2, free_port(), work_dir), timeout=240)
    except (OSError, PermissionError) as err:  # sandbox without sockets
        pytest.skip(f'cannot spawn a 2-process group: {err}')


def test_hook_outside_distributed_runs_and_with_sync_bn(tmp_path):

    def runner(**kwargs) -> Runner:
        return Runner(
            model=SyncToy(),
            work_dir=str(tmp_path),
            experiment_name=f'sync_hook_{uuid.uuid4().hex}',
            default_scope='slim_plugins',
            log_level='WARNING',
            **kwargs)

    hook = SyncSlimBNHook(implementation='slim')
    plain = runner()
    hook.before_train(plain)
    # Not distributed: nothing converted (mmengine also leaves BN alone).
    assert type(plain.model.backbone[1]) is SlimBatchNorm2d
    assert type(plain.model.head_bn) is nn.BatchNorm1d
    # mmengine's own sync_bn would destroy the slim BN: refused.
    with pytest.raises(ValueError, match='Remove `sync_bn`'):
        hook.before_train(runner(cfg=dict(sync_bn='torch')))
