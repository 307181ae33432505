# Copyright (c) slim_plugins contributors. All rights reserved.
"""Width samplers and per-width loss weights."""
import io
import math
import statistics

import pytest
import torch

from slim_plugins.engine.samplers import (AllWidthsSampler, RandomSampler,
                                          SandwichSampler, SlowStartSampler,
                                          US3LScheduleSampler,
                                          width_loss_weights)
from slim_plugins.registry import WIDTH_SAMPLERS


def _is_valid_step(widths, low=0.0, high=1.0):
    return (widths == sorted(widths, reverse=True)
            and len(set(widths)) == len(widths)
            and all(low <= w <= high for w in widths))


# ---------------------------------------------------------------------------
# AllWidthsSampler
# ---------------------------------------------------------------------------
def test_all_widths_sorted_every_step():
    sampler = AllWidthsSampler([0.25, 1.0, 0.5, 0.75])
    for epoch in (0, 1, 57.5, 199):
        assert sampler.sample(epoch, 200) == [1.0, 0.75, 0.5, 0.25]
    assert sampler.max_width == 1.0
    # the returned list is a copy: mutating it does not change the sampler
    sampler.sample(0).append(0.1)
    assert sampler.sample(0) == [1.0, 0.75, 0.5, 0.25]


@pytest.mark.parametrize('widths, match', [
    ([], 'empty'),
    ([1.0, 0.5, 0.5], 'duplicates'),
    ([1.0, 0.0], 'outside'),
    ([1.5, 0.5], 'outside'),
    ([1.0, -0.25], 'outside'),
    ([1.0, float('nan')], 'outside'),
])
def test_all_widths_bad_input(widths, match):
    with pytest.raises(ValueError, match=match):
        AllWidthsSampler(widths)


def test_all_widths_type_error():
    with pytest.raises(TypeError, match='sequence'):
        AllWidthsSampler(0.5)


# ---------------------------------------------------------------------------
# SandwichSampler / RandomSampler
# ---------------------------------------------------------------------------
def test_sandwich_two_samples_is_max_and_min():
    # the reference returns [] here once the schedule starts
    sampler = SandwichSampler((0.25, 1.0), num_samples=2)
    for _ in range(5):
        assert sampler.sample(3) == [1.0, 0.25]


@pytest.mark.parametrize('num_samples', [3, 4, 6])
def test_sandwich_contents(num_samples):
    # the reference duplicates [max, min] for N >= 4 (6 entries for N = 4)
    sampler = SandwichSampler((0.25, 1.0), num_samples=num_samples, seed=3)
    for _ in range(50):
        widths = sampler.sample(0)
        assert len(widths) == num_samples
        assert _is_valid_step(widths, 0.25, 1.0)
        assert widths[0] == 1.0 and widths[-1] == 0.25
        assert all(0.25 < w < 1.0 for w in widths[1:-1])


def test_sandwich_middle_widths_are_uniform():
    sampler = SandwichSampler((0.2, 1.0), num_samples=3, seed=0)
    middle = [sampler.sample(0)[1] for _ in range(3000)]
    # U(0.2, 1.0): mean 0.6, std 0.8 / sqrt(12) ~ 0.231
    assert statistics.mean(middle) == pytest.approx(0.6, abs=0.015)
    assert statistics.pstdev(middle) == pytest.approx(
        0.8 / math.sqrt(12), abs=0.015)
    # both halves of the range are hit
    assert min(middle) < 0.3 and max(middle) > 0.9


def test_random_sampler_contents():
    sampler = RandomSampler((0.25, 1.0), num_samples=3, seed=5)
    firsts = []
    for _ in range(300):
        widths = sampler.sample(0)
        assert len(widths) == 3 and _is_valid_step(widths, 0.25, 1.0)
        firsts.append(widths[0])
    # no sandwich: the largest sampled width (teacher) is usually not 1.0
    assert 1.0 not in firsts and 0.25 not in firsts
    # the max of 3 draws of U(.25, 1) has mean .25 + .75 * 3 / 4 = .8125
    assert statistics.mean(firsts) == pytest.approx(0.8125, abs=0.02)
    assert sampler.max_width == 1.0
    assert len(RandomSampler(num_samples=1).sample(0)) == 1


@pytest.mark.parametrize('cls', [SandwichSampler, RandomSampler])
def test_range_samplers_are_deterministic(cls):
    a, b, c = cls(seed=7), cls(seed=7), cls(seed=8)
    seq_a = [a.sample(e) for e in range(20)]
    seq_b = [b.sample(e) for e in range(20)]
    seq_c = [c.sample(e) for e in range(20)]
    assert seq_a == seq_b
    assert seq_a != seq_c


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(width_range=(1.0, 0.25)), ValueError, 'w_min < w_max'),
    (dict(width_range=(0.0, 1.0)), ValueError, '0 < w_min'),
    (dict(width_range=(0.5, 1.5)), ValueError, 'w_max <= 1'),
    (dict(width_range=(0.5, 0.5)), ValueError, 'w_min < w_max'),
    (dict(width_range=(0.5, )), TypeError, 'pair'),
    (dict(num_samples=1), ValueError, 'num_samples=1 must be >= 2'),
    (dict(num_samples=2.0), TypeError, 'int'),
    (dict(seed='0'), TypeError, 'seed'),
])
def test_sandwich_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        SandwichSampler(**kwargs)


def test_random_sampler_bad_input():
    with pytest.raises(ValueError, match='num_samples=0 must be >= 1'):
        RandomSampler(num_samples=0)
    with pytest.raises(ValueError, match='epoch=-1'):
        RandomSampler().sample(-1)


# ---------------------------------------------------------------------------
# US3LScheduleSampler
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('epoch, stage, low', [
    (0, 1, 1.0),
    (99, 1, 1.0),
    (99.9, 1, 1.0),
    (100, 2, 0.75),
    (199, 2, 0.75),
    (200, 3, 0.5),
    (299, 3, 0.5),
    (300, 4, 0.25),
    (399, 4, 0.25),
])
def test_us3l_schedule_stages_400_epochs(epoch, stage, low):
    sampler = US3LScheduleSampler((0.25, 1.0), num_samples=3)
    assert sampler.stage(epoch, 400) == stage
    assert sampler.lower_bound(epoch, 400) == pytest.approx(low)


def test_us3l_schedule_samples_400_epochs():
    sampler = US3LScheduleSampler((0.25, 1.0), num_samples=3, seed=1)
    # stage 1: only the full network, a single forward per iteration
    assert sampler.sample(0, 400) == [1.0]
    assert sampler.sample(99, 400) == [1.0]
    for epoch, low in ((100, 0.75), (250, 0.5), (399, 0.25)):
        for _ in range(20):
            widths = sampler.sample(epoch, 400)
            assert len(widths) == 3 and _is_valid_step(widths)
            assert widths[0] == 1.0
            assert widths[-1] == pytest.approx(low)
            assert low < widths[1] < 1.0


@pytest.mark.parametrize('epoch, stage', [(0, 1), (23, 1), (24, 2), (47, 2),
                                          (48, 3), (71, 3), (72, 4), (95, 4),
                                          (96, 4), (98, 4)])
def test_us3l_schedule_99_epochs_is_clamped(epoch, stage):
    sampler = US3LScheduleSampler((0.25, 1.0))
    assert sampler.stage(epoch, 99) == stage
    widths = sampler.sample(epoch, 99)
    assert min(widths) >= 0.25


def test_us3l_schedule_has_no_width_zero_flag():
    # The original's unclamped stage 5 (width 0) cannot run here: no flag.
    with pytest.raises(TypeError, match='reproduce_stage_overflow_bug'):
        US3LScheduleSampler((0.25, 1.0), reproduce_stage_overflow_bug=True)
    sampler = US3LScheduleSampler((0.25, 1.0))
    assert [sampler.lower_bound(e, 99) for e in (95, 96, 98)] == [0.25] * 3


def test_us3l_schedule_sandwich_off_and_two_samples():
    sampler = US3LScheduleSampler(num_samples=2, sandwich=True)
    assert sampler.sample(300, 400) == [1.0, 0.25]
    sampler = US3LScheduleSampler(num_samples=3, sandwich=False, seed=2)
    assert sampler.sample(0, 400) == [1.0]
    widths = sampler.sample(150, 400)
    assert len(widths) == 3 and _is_valid_step(widths, 0.75, 1.0)
    assert widths[0] < 1.0 and widths[-1] > 0.75


def test_us3l_schedule_short_and_missing_schedule():
    sampler = US3LScheduleSampler()
    for max_epochs in (1, 3):
        with pytest.raises(ValueError, match='too short'):
            sampler.sample(0, max_epochs)
    with pytest.raises(ValueError, match='max_epochs'):
        sampler.sample(0)
    # four epochs: one per stage
    lows = [sampler.lower_bound(e, 4) for e in range(4)]
    assert lows == pytest.approx([1.0, 0.75, 0.5, 0.25])
    with pytest.raises(ValueError, match='set sandwich=False'):
        US3LScheduleSampler(num_samples=1)
    assert US3LScheduleSampler(
        num_samples=1, sandwich=False).sample(3, 4)[0] >= 0.25


def test_us3l_schedule_deterministic_and_no_draws_in_stage_one():
    a = US3LScheduleSampler(seed=11)
    b = US3LScheduleSampler(seed=11)
    seq_a = [a.sample(e, 8) for e in range(8)]
    seq_b = [b.sample(e, 8) for e in range(2, 8)]
    # stage 1 (epochs 0-1 of 8) draws no random number
    assert seq_a[2:] == seq_b


# ---------------------------------------------------------------------------
# SlowStartSampler
# ---------------------------------------------------------------------------
def test_slow_start_with_width_list():
    sampler = SlowStartSampler([0.25, 0.5, 1.0, 0.75], start_epoch=100)
    assert sampler.sample(0, 200) == [1.0]
    assert sampler.sample(99.99, 200) == [1.0]
    assert sampler.sample(100, 200) == [1.0, 0.75, 0.5, 0.25]
    assert sampler.sample(199, 200) == [1.0, 0.75, 0.5, 0.25]
    assert not sampler.is_started(99) and sampler.is_started(100.5)


def test_slow_start_wraps_sampler_without_consuming_it():
    sampler = SlowStartSampler(
        dict(type='SandwichSampler', num_samples=3, seed=4), start_epoch=2)
    reference = SandwichSampler(num_samples=3, seed=4)
    before = [sampler.sample(e, 10) for e in (0, 0, 1, 1.5)]
    assert before == [[1.0]] * 4
    after = [sampler.sample(e, 10) for e in range(2, 8)]
    assert after == [reference.sample(e) for e in range(2, 8)]
    assert len(after[0]) == 3


def test_slow_start_bad_input():
    with pytest.raises(ValueError, match='beyond max_epochs=100'):
        SlowStartSampler([1.0, 0.5], start_epoch=150, max_epochs=100)
    sampler = SlowStartSampler([1.0, 0.5], start_epoch=150)
    with pytest.raises(ValueError, match='lower `start_epoch`'):
        sampler.sample(0, 100)
    with pytest.raises(ValueError, match='start_epoch=-1'):
        SlowStartSampler([1.0, 0.5], start_epoch=-1)
    with pytest.raises(ValueError, match='duplicates'):
        SlowStartSampler([1.0, 1.0], start_epoch=1)
    with pytest.raises(TypeError, match='width sampler'):
        SlowStartSampler('1.0', start_epoch=1)
    # the wrapped sampler's schedule is checked too
    with pytest.raises(ValueError, match='too short'):
        SlowStartSampler(US3LScheduleSampler(), start_epoch=1, max_epochs=3)


# ---------------------------------------------------------------------------
# resume: state_dict round trip
# ---------------------------------------------------------------------------
def _round_trip(state):
    """Save and load with the restricted unpickler, like a checkpoint."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize('build', [
    lambda seed: SandwichSampler(num_samples=4, seed=seed),
    lambda seed: RandomSampler(num_samples=2, seed=seed),
    lambda seed: US3LScheduleSampler(seed=seed),
    lambda seed: SlowStartSampler(SandwichSampler(seed=seed), start_epoch=1),
])
def test_state_dict_round_trip_continues_sequence(build):
    original = build(0)
    for epoch in range(5):
        original.sample(epoch, 8)
    state = _round_trip(original.state_dict())
    expected = [original.sample(e, 8) for e in range(5, 8)]

    resumed = build(123)  # a different seed: the state must override it
    resumed.load_state_dict(state)
    assert [resumed.sample(e, 8) for e in range(5, 8)] == expected
    fresh = build(123)
    assert [fresh.sample(e, 8) for e in range(5, 8)] != expected


def test_load_state_dict_of_other_sampler_fails():
    state = SandwichSampler().state_dict()
    with pytest.raises(ValueError, match='cannot load'):
        RandomSampler().load_state_dict(state)


def test_samplers_build_from_registry():
    sampler = WIDTH_SAMPLERS.build(
        dict(type='US3LScheduleSampler', width_range=(0.5, 1.0)))
    assert isinstance(sampler, US3LScheduleSampler)
    assert sampler.lower_bound(399, 400) == 0.5
    for name in ('AllWidthsSampler', 'SandwichSampler', 'RandomSampler',
                 'SlowStartSampler'):
        assert WIDTH_SAMPLERS.get(name) is not None


# ---------------------------------------------------------------------------
# width_loss_weights
# ---------------------------------------------------------------------------
SLIMCLR_WIDTHS = [1.0, 0.75, 0.5, 0.25]


@pytest.mark.parametrize(
    'option, expected',
    [
        (5, [2.5, 1.0, 1.0, 1.0]),
        ('uniform', [1.0, 1.0, 1.0, 1.0]),
        (0, [1.0, 1.0, 1.0, 1.0]),
        (1, [0.4, 0.3, 0.2, 0.1]),
        (2, [1.0, 0.75, 0.5, 0.25]),
        (3, [1.6, 1.2, 0.8, 0.4]),
        # raw 1 + sum of narrower widths = [2.5, 1.75, 1.25, 1.0] (sum 6.5),
        # renormalised to sum 4
        (6, [10 / 6.5, 7 / 6.5, 5 / 6.5, 4 / 6.5]),
        (7, [1.75, 1.0, 1.0, 1.0]),
    ])
def test_width_loss_weights(option, expected):
    assert width_loss_weights(SLIMCLR_WIDTHS,
                              option) == pytest.approx(expected)


def test_width_loss_weights_default_order_and_single_width():
    assert width_loss_weights(SLIMCLR_WIDTHS) == [2.5, 1.0, 1.0, 1.0]
    # weights follow the order of the given widths
    assert width_loss_weights([0.25, 1.0, 0.5, 0.75], 6) == pytest.approx(
        [4 / 6.5, 10 / 6.5, 5 / 6.5, 7 / 6.5])
    for option in (0, 1, 3, 5, 6, 7, 'uniform'):
        assert width_loss_weights([1.0], option) == [1.0]


@pytest.mark.parametrize('widths, option, match', [
    ([1.0, 0.5], 4, 'option=4'),
    ([1.0, 0.5], 'size', 'option'),
    ([1.0, 0.5], True, 'option'),
    ([], 5, 'empty'),
    ([1.0, 1.0], 5, 'duplicates'),
    ([1.0, 0.0], 1, '> 0'),
])
def test_width_loss_weights_bad_input(widths, option, match):
    with pytest.raises(ValueError, match=match):
        width_loss_weights(widths, option)
