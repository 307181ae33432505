# Copyright (c) slim_plugins contributors. All rights reserved.
"""SlowStartCosineLR against hand-computed values."""
import pytest
import torch

import slim_plugins  # noqa: F401
from slim_plugins.engine.samplers import SlowStartSampler
from slim_plugins.engine.schedulers import SlowStartCosineLR
from slim_plugins.registry import PARAM_SCHEDULERS

# 4 epochs of 10 iterations, warmup 1 epoch from 0.01, slow start at epoch 2
# with amplitude 0.05; the optimizer LR is 0.2.
EPOCH_LENGTH = 10
CFG = dict(
    type='SlowStartCosineLR',
    warmup=1,
    slow_start=2,
    post_slow_start_lr=0.05,
    warmup_start_lr=0.01,
    by_epoch=True,
    begin=0,
    end=4,
    convert_to_iter_based=True)

# lr(T), worked out by hand from
#   T < 10:  0.01 + (0.2 - 0.01) T / 10
#   T >= 10: A / 2 (1 + cos(pi (T - 10) / 30)), A = 0.2 before T = 20,
#            0.05 from it on
HAND_VALUES = {
    0: 0.01,
    5: 0.105,
    10: 0.2,
    19: 0.1 * (1 + 0.587785252),  # cos(0.3 pi)
    20: 0.0375,  # 0.025 (1 + cos(pi / 3))
    25: 0.025,  # 0.025 (1 + cos(pi / 2))
    39: 0.025 * (1 - 0.994521895),  # cos(29 pi / 30)
}


def optimizer(*lrs):
    params = [[torch.zeros(1, requires_grad=True)] for _ in lrs]
    return torch.optim.SGD(
        [dict(params=p, lr=lr) for p, lr in zip(params, lrs)])


def run(optim, cfg=CFG, steps=40):
    scheduler = PARAM_SCHEDULERS.build(
        dict(cfg, epoch_length=EPOCH_LENGTH),
        default_args=dict(optimizer=optim))
    lrs = []
    for _ in range(steps):
        lrs.append([group['lr'] for group in optim.param_groups])
        optim.step()
        scheduler.step()
    return scheduler, lrs


def test_values_match_the_formula_by_hand():
    scheduler, lrs = run(optimizer(0.2))
    assert isinstance(scheduler, SlowStartCosineLR)
    assert (scheduler.warmup, scheduler.slow_start, scheduler.end) == (10, 20,
                                                                       40)
    for step, value in HAND_VALUES.items():
        assert lrs[step][0] == pytest.approx(value, rel=1e-7), step
    # The amplitude changes exactly at the slow start, the phase does not.
    assert lrs[20][0] / lrs[19][0] < 0.25
    assert all(lrs[i + 1][0] < lrs[i][0] for i in range(10, 39) if i != 19)


def test_groups_keep_their_ratio():
    _, lrs = run(optimizer(0.2, 0.1))
    assert lrs[10] == pytest.approx([0.2, 0.1])
    # The largest group gets post_slow_start_lr as amplitude.
    assert lrs[20] == pytest.approx([0.0375, 0.01875])


def test_floor_and_raise_of_the_amplitude():
    cfg = dict(CFG, post_slow_start_lr=0.8, min_lr=0.05)
    _, lrs = run(optimizer(0.2), cfg)
    # MoCoV3-like raise: 0.4 (1 + cos(pi / 3)) = 0.6 at the slow start.
    assert lrs[20][0] == pytest.approx(0.6)
    # 0.4 (1 + cos(29 pi / 30)) = 0.00219 is floored at min_lr.
    assert lrs[39][0] == pytest.approx(0.05)


def test_switch_iteration_matches_the_slow_start_sampler():
    _, rebased = run(optimizer(0.2))
    _, plain = run(optimizer(0.2), dict(CFG, post_slow_start_lr=0.2))
    first_rebased = next(
        i for i in range(40) if rebased[i][0] != pytest.approx(plain[i][0]))
    sampler = SlowStartSampler([1.0, 0.5], start_epoch=2)
    first_all = next(
        i for i in range(40) if len(sampler.sample(i / EPOCH_LENGTH, 4)) == 2)
    assert first_all == first_rebased == 20


def test_resume_continues_the_schedule():
    optim = optimizer(0.2)
    scheduler, _ = run(optim, steps=23)
    state = scheduler.state_dict()
    resumed = PARAM_SCHEDULERS.build(
        dict(CFG, epoch_length=EPOCH_LENGTH),
        default_args=dict(optimizer=optim))
    resumed.load_state_dict(state)
    optim.step()
    resumed.step()
    # 0.025 (1 + cos(pi * 14 / 30))
    assert optim.param_groups[0]['lr'] == pytest.approx(
        0.025 * (1 + 0.104528463), rel=1e-7)


@pytest.mark.parametrize('changes, match', [
    (dict(end=float('inf'), convert_to_iter_based=False), 'finite `end`'),
    (dict(slow_start=5), 'slow_start'),
    (dict(warmup=4), 'warmup'),
    (dict(post_slow_start_lr=-0.1), 'post_slow_start_lr'),
])
def test_bad_arguments(changes, match):
    cfg = dict(CFG, **changes)
    if not cfg['convert_to_iter_based']:
        cfg.pop('convert_to_iter_based')
    with pytest.raises(ValueError, match=match):
        run(optimizer(0.2), cfg, steps=1)
