# Copyright (c) slim_plugins contributors. All rights reserved.
"""US3L and SlimCLR-MoCoV2 under MultiWidthDistributedDataParallel on two
CPU processes (gloo) against one process.

Both algorithms compute their contrastive losses per rank (negatives from
the local batch; SlimCLR enqueues the keys of all ranks), as the originals
do, so two ranks holding different halves of a batch do not compute the
loss of the whole batch in one process. Both ranks get the *same* batch
here instead: DDP then averages two identical gradients, ``(g + g) / 2``,
which is ``g`` in floating point, so after the steps every parameter, BN
buffer, EMA teacher and the key queue must equal a single-process run on
that batch. (The toy test in ``test_multi_width_ddp.py`` splits one batch
across ranks with a per-sample loss.)

Tolerance: the one-process run adds sliced gradients in one batched update
(``in_place_slice_grads``) where DDP lets autograd add them, so with GroupReg
(a second gradient term of the same parameters) the sums are rounded in
another order (at most 6e-8 after the first US3L step). This tiny network
(batch 8, widths down to 2 channels) amplifies such differences step by
step (measured: 6.5e-7 on the weights after 6 steps at lr 0.01; at lr 0.1
the same rounding grows to 1e-1 in 6 steps, without GroupReg the two paths
agree bit for bit). ``ATOL = 1e-5`` covers it, while a scaled or lost
gradient moves weights by ``lr * |g|``, checked to exceed ``100 * ATOL``.
"""
import os

import torch
import torch.distributed as dist
from conftest import TEST_CONFIGS, free_port, gloo_group, spawn_workers
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from slim_plugins.engine.samplers import SandwichSampler
from slim_plugins.registry import MODELS

BATCH = 8
LR = 0.01
ATOL = 1e-5


def _us3l():
    torch.manual_seed(0)
    neck = dict(
        type='SlimMLPNeck', hid_channels=32, norm='bn', slim_hidden=False)
    model = MODELS.build(
        dict(
            type='US3L',
            backbone=dict(
                type='SlimResNet',
                depth=18,
                stem_channels=8,
                base_channels=8,
                track_running_stats=False),
            neck=dict(neck, in_channels=64, out_channels=16, num_layers=3),
            aux_predictor=dict(
                neck,
                in_channels=16,
                out_channels=16,
                with_bias=False,
                with_last_bias=True,
                slim_in=False,
                with_avg_pool=False),
            distill=True,
            teacher='ema',
            momentum=0.9,
            step_mode='per_width',
            group_reg=dict(
                type='GroupRegLoss',
                lambda_=5e-2,
                alpha=0.05,
                bins=4,
                decay_type='linear',
                warmup_epochs=0)))
    model.init_weights()
    return model.train()


def _slimclr():
    cfg = Config.fromfile(os.path.join(TEST_CONFIGS,
                                       'tiny_slimclr_mocov2.py')).model
    # Shuffle-BN permutes the keys of all ranks: with the same batch on
    # both ranks its BN statistics would mix copies, unlike one process.
    cfg.shuffle_bn = False
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


ALGORITHMS = {
    # name: (builder, iterations, sandwich sampler or the model's widths)
    'us3l': (_us3l, 2, True),
    # One iteration: the second would draw negatives from a queue that
    # holds the keys of both ranks (twice the one-process keys).
    'slimclr': (_slimclr, 1, False),
}


def _batch(step: int, channels: int = 3) -> dict:
    gen = torch.Generator().manual_seed(step)
    size = 16
    return dict(
        inputs=[
            torch.randn(BATCH, channels, size, size, generator=gen)
            for _ in range(2)
        ],
        data_samples=None)


def _train(wrapper, model, name: str) -> None:
    """The same widths and batches in every run and on every rank."""
    _, iterations, sandwich = ALGORITHMS[name]
    optim = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9))
    sampler = SandwichSampler((0.25, 1.0), num_samples=3, seed=1)
    for step in range(iterations):
        widths = sampler.sample(0, 100) if sandwich else model.widths
        model.set_train_widths(widths)
        log_vars = wrapper.train_step(_batch(step), optim)
        assert all(torch.isfinite(torch.as_tensor(v)).all()
                   for v in log_vars.values()), log_vars


def _worker(rank: int, world_size: int, port: int, name: str,
            work_dir: str) -> None:
    os.environ.pop('CUDA_VISIBLE_DEVICES', None)
    torch.set_num_threads(1)
    with gloo_group(rank, world_size, port):
        _train_ddp(rank, name, work_dir)


def _train_ddp(rank: int, name: str, work_dir: str) -> None:
    from slim_plugins.engine.wrappers import MultiWidthDistributedDataParallel
    model = ALGORITHMS[name][0]()
    ddp = MultiWidthDistributedDataParallel(
        model, device_ids=None, find_unused_parameters=True)
    _train(ddp, model, name)
    torch.save(model.state_dict(),
               os.path.join(work_dir, f'{name}_rank{rank}.pth'))


def _compare(name: str, work_dir: str, ddp_keys=None) -> dict:
    model = ALGORITHMS[name][0]()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    _train(model, model, name)
    want = model.state_dict()
    ranks = [
        torch.load(
            os.path.join(work_dir, f'{name}_rank{rank}.pth'),
            weights_only=True) for rank in range(2)
    ]
    for key, value in want.items():
        if key in ('queue', 'queue_ptr'):
            continue
        for rank, got in enumerate(ranks):
            torch.testing.assert_close(
                got[key], value, atol=ATOL, rtol=0,
                msg=f'{name} rank {rank}: {key}')
        # DDP keeps the ranks identical, bit for bit.
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    moved = max((want[k] - initial[k]).abs().max().item() for k in want
                if k.endswith('weight') and k in initial)
    assert moved > 100 * ATOL, 'the steps must move the weights'
    return dict(want=want, ranks=ranks, initial=initial)


def test_us3l_and_slimclr_ddp_equal_one_process(tmp_path):
    assert dist.is_available() and dist.is_gloo_available()
    for name in ALGORITHMS:
        spawn_workers(
            _worker, (2, free_port(), name, str(tmp_path)), timeout=240)

    us3l = _compare('us3l', str(tmp_path))
    # The EMA teacher moved, identically on both ranks and in one process.
    teacher = [k for k in us3l['want'] if k.startswith('target_net.')]
    assert teacher and any(
        not torch.equal(us3l['want'][k], us3l['initial'][k])
        for k in teacher)

    slimclr = _compare('slimclr', str(tmp_path))
    # One enqueue: the ranks' (identical) keys side by side, each equal to
    # the one-process keys; the rest of the queue is untouched.
    want, initial = slimclr['want'], slimclr['initial']
    for got in slimclr['ranks']:
        assert int(got['queue_ptr']) == 2 * BATCH == 2 * int(
            want['queue_ptr'])
        keys = want['queue'][:, :BATCH]
        assert not torch.equal(keys, initial['queue'][:, :BATCH])
        torch.testing.assert_close(
            got['queue'][:, :2 * BATCH], torch.cat([keys, keys], dim=1),
            atol=ATOL, rtol=0)
        assert torch.equal(got['queue'][:, 2 * BATCH:],
                           initial['queue'][:, 2 * BATCH:])
