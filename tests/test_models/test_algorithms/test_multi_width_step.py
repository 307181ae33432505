# Copyright (c) slim_plugins contributors. All rights reserved.
"""The multi-width train step against a hand-written reference loop."""
import copy
from typing import List, Optional, Sequence

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper

from slim_plugins.engine.samplers import width_loss_weights
from slim_plugins.models.algorithms import MultiWidthTrainMixin
from slim_plugins.ops import (SlimConv2d, SlimLinear, set_width,
                              share_width_state)

WIDTHS = [1.0, 0.75, 0.5, 0.25]


class ToyMultiWidth(MultiWidthTrainMixin, BaseModel):
    """Slim conv -> pool -> slim linear, cross-entropy on integer labels."""

    def __init__(self,
                 step_mode: str = 'accumulate',
                 loss_weighting='uniform',
                 default_widths: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        self.backbone = SlimConv2d(
            3, 8, 3, padding=1, slim_in=False, channel_rule='int')
        self.head = SlimLinear(8, 3, channel_rule='int')
        share_width_state(self)
        self.init_multi_width(step_mode, loss_weighting, default_widths)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        feats = F.relu(self.backbone(inputs)).mean(dim=(2, 3))
        return self.head(feats)

    def forward(self, inputs, data_samples=None, mode='loss'):
        logits = self.logits(inputs)
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, data_samples))
        return logits


def _batches(num: int, batch_size: int = 2) -> List[dict]:
    gen = torch.Generator().manual_seed(1)
    return [
        dict(
            inputs=torch.randn(batch_size, 3, 16, 16, generator=gen),
            data_samples=torch.randint(0, 3, (batch_size, ), generator=gen))
        for _ in range(num)
    ]


def _sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def _count_steps(optim_wrapper: OptimWrapper) -> List[int]:
    """Count the real optimizer steps (wraps ``optimizer.step``)."""
    calls = [0]
    step = optim_wrapper.optimizer.step

    def counted(*args, **kwargs):
        calls[0] += 1
        return step(*args, **kwargs)

    optim_wrapper.optimizer.step = counted
    return calls


def _reference(model: ToyMultiWidth,
               batches: List[dict],
               widths: List[float],
               weights: List[float],
               accumulate: bool,
               max_norm: Optional[float] = None,
               autocast: bool = False) -> ToyMultiWidth:
    """Hand-written loop: set width, forward, weighted loss, backward.

    ``autocast`` runs each forward under CPU bfloat16 autocast (per forward:
    autocast caches the cast weights until its outermost block exits, so a
    block around optimizer steps would reuse stale weights)."""
    optimizer = _sgd(model)

    def step():
        if max_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()

    for batch in batches:
        optimizer.zero_grad()
        for width, weight in zip(widths, weights):
            set_width(model, width)
            with torch.autocast('cpu', torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(
                    model.logits(batch['inputs']), batch['data_samples'])
            (loss * weight).backward()
            if not accumulate:
                step()
                optimizer.zero_grad()
        if accumulate:
            step()
    set_width(model, 1.0)
    return model


@pytest.mark.parametrize('step_mode', ['accumulate', 'per_width'])
@pytest.mark.parametrize('weighting', ['uniform', 5])
def test_step_matches_hand_written_loop(step_mode, weighting):
    torch.manual_seed(0)
    model = ToyMultiWidth(step_mode, weighting)
    reference = copy.deepcopy(model)
    initial = copy.deepcopy(model)
    batches = _batches(3)
    # Unsorted on purpose: the step trains widths from high to low.
    model.set_train_widths([0.25, 1.0, 0.5, 0.75])
    optim_wrapper = OptimWrapper(_sgd(model))
    steps = _count_steps(optim_wrapper)
    for batch in batches:
        model.train_step(batch, optim_wrapper)
    expected_steps = 1 if step_mode == 'accumulate' else len(WIDTHS)
    assert steps[0] == expected_steps * len(batches)

    weights = width_loss_weights(WIDTHS, weighting)
    _reference(reference, batches, WIDTHS, weights,
               step_mode == 'accumulate')
    for (name, got), want in zip(model.named_parameters(),
                                 reference.parameters()):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0, msg=name)
    assert not torch.allclose(model.head.weight, initial.head.weight)
    # The width is restored after the step.
    assert model.backbone.width_state.width == 1.0


@pytest.mark.parametrize('step_mode', ['accumulate', 'per_width'])
def test_step_under_cpu_bfloat16_autocast(step_mode):
    """CPUAmpOptimWrapper: each width's gradient is added once, unscaled,
    and the forward does run in bfloat16."""
    from slim_plugins.engine.optimizers import CPUAmpOptimWrapper
    torch.manual_seed(0)
    model = ToyMultiWidth(step_mode)
    reference = copy.deepcopy(model)
    fp32 = copy.deepcopy(model)
    batches = _batches(2)
    for net in (model, fp32):
        net.set_train_widths(WIDTHS)
    amp = CPUAmpOptimWrapper(optimizer=_sgd(model))
    for batch in batches:
        log_vars = model.train_step(batch, amp)
        fp32.train_step(batch, OptimWrapper(_sgd(fp32)))
    assert all(torch.isfinite(torch.as_tensor(v)) for v in log_vars.values())

    weights = width_loss_weights(WIDTHS, 'uniform')
    _reference(
        reference,
        batches,
        WIDTHS,
        weights,
        step_mode == 'accumulate',
        autocast=True)
    for (name, got), want in zip(model.named_parameters(),
                                 reference.parameters()):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0, msg=name)
    assert not torch.allclose(model.head.weight, fp32.head.weight, atol=1e-6)


@pytest.mark.parametrize('step_mode', ['accumulate', 'per_width'])
def test_single_process_step_slices_in_place(step_mode):
    """Without DDP every narrow width runs its sliced layers as plain
    narrow ones (contiguous leaves, one batched gradient update): same
    results, less gradient traffic (benchmarks/multiwidth_step.py)."""
    torch.manual_seed(0)
    model = ToyMultiWidth(step_mode)
    model.set_train_widths([1.0, 0.5])
    model.train_step(_batches(1)[0], OptimWrapper(_sgd(model)))
    assert model.backbone._slices._leaves, 'width 0.5 ran without leaves'


def test_cpu_amp_refuses_float16():
    from slim_plugins.engine.optimizers import CPUAmpOptimWrapper
    with pytest.raises(ValueError, match='bfloat16'):
        CPUAmpOptimWrapper(
            dtype='float16', optimizer=_sgd(ToyMultiWidth('accumulate')))


def test_weights_change_the_update():
    """Option 5 must give a different update than uniform weights."""
    torch.manual_seed(0)
    uniform = ToyMultiWidth('accumulate', 'uniform', WIDTHS)
    weighted = copy.deepcopy(uniform)
    weighted.loss_weighting = 5
    batch = _batches(1)[0]
    for model in (uniform, weighted):
        model.train_step(batch, OptimWrapper(_sgd(model)))
    assert not torch.allclose(uniform.head.weight, weighted.head.weight)


def test_log_vars_per_width_and_weighted_total():
    torch.manual_seed(0)
    model = ToyMultiWidth('accumulate', 5, WIDTHS)
    batch = _batches(1)[0]
    with torch.no_grad():
        expected = {}
        for width in WIDTHS:
            set_width(model, width)
            expected[width] = F.cross_entropy(
                model.logits(batch['inputs']), batch['data_samples'])
        set_width(model, 1.0)
    log_vars = model.train_step(batch, OptimWrapper(_sgd(model)))
    for width, key in zip(WIDTHS,
                          ['loss@w1', 'loss@w0.75', 'loss@w0.5',
                           'loss@w0.25']):
        # Per-width entries are the unweighted losses of that width.
        assert torch.allclose(log_vars[key], expected[width], atol=1e-6)
    # SlimCLR option 5: [1, .75, .5, .25] -> [2.5, 1, 1, 1].
    total = 2.5 * expected[1.0] + expected[0.75] + expected[0.5] + \
        expected[0.25]
    assert torch.allclose(log_vars['loss'], total, atol=1e-5)
    assert model.current_width is None
    assert model.current_step_widths == WIDTHS


def test_current_width_seen_by_forward():
    seen = []

    class Recording(ToyMultiWidth):

        def forward(self, inputs, data_samples=None, mode='loss'):
            seen.append((self.current_width, self.current_width_index,
                         self.backbone.width_state.width))
            return super().forward(inputs, data_samples, mode)

    model = Recording('per_width', default_widths=[0.5, 1.0])
    model.train_step(_batches(1)[0], OptimWrapper(_sgd(model)))
    assert seen == [(1.0, 0, 1.0), (0.5, 1, 0.5)]


def test_set_train_widths_errors():
    model = ToyMultiWidth()
    with pytest.raises(ValueError, match='empty'):
        model.set_train_widths([])
    with pytest.raises(ValueError, match='duplicated'):
        model.set_train_widths([1.0, 0.5, 1.0])
    model.set_train_widths([0.5, 1, 0.25])
    assert model.train_widths == [1.0, 0.5, 0.25]


def test_no_widths_raises():
    model = ToyMultiWidth()
    with pytest.raises(RuntimeError, match='WidthSamplingHook'):
        model.train_step(_batches(1)[0], OptimWrapper(_sgd(model)))


def test_bad_step_mode_and_accumulative_counts():
    with pytest.raises(ValueError, match='step_mode'):
        ToyMultiWidth(step_mode='sandwich')
    model = ToyMultiWidth(default_widths=[1.0, 0.5])
    optim_wrapper = OptimWrapper(_sgd(model), accumulative_counts=2)
    with pytest.raises(ValueError, match='accumulative_counts'):
        model.train_step(_batches(1)[0], optim_wrapper)


def test_student_width_only_touches_slimmable_modules():
    model = ToyMultiWidth()
    model.teacher = SlimLinear(8, 3)  # own width state, not a student
    with model.student_width(0.5):
        assert model.backbone.width_state.width == 0.5
        assert model.teacher.width_state.width == 1.0
    assert model.backbone.width_state.width == 1.0


def test_random_widths_are_logged_by_position():
    """Keys of widths drawn from a range do not grow with every draw."""
    torch.manual_seed(0)
    model = ToyMultiWidth('accumulate')  # universal state, range (0, 1]
    batch = _batches(1)[0]
    keys = set()
    for widths in ([1.0, 0.61, 0.3], [1.0, 0.37, 0.3]):
        model.set_train_widths(widths)
        log_vars = model.train_step(batch, OptimWrapper(_sgd(model)))
        keys |= {k for k in log_vars if k.startswith('loss@')}
    # 1.0 ends the range: named by value; the others by position.
    assert keys == {'loss@w1', 'loss@rand1', 'loss@rand2'}
    named = ToyMultiWidth('accumulate', default_widths=[1.0, 0.3])
    named.set_train_widths([1.0, 0.61, 0.3])
    assert set(named.train_step(batch, OptimWrapper(_sgd(named)))) >= {
        'loss@w1', 'loss@rand1', 'loss@w0.3'}


@pytest.mark.parametrize('step_mode', ['accumulate', 'per_width'])
def test_step_with_gradient_clipping(step_mode):
    """Clipping rescales ``.grad`` in place between widths and steps; the
    in-place gradients of sliced weights must not carry stale values."""
    torch.manual_seed(0)
    model = ToyMultiWidth(step_mode)
    reference = copy.deepcopy(model)
    batches = _batches(3)
    model.set_train_widths([0.5, 0.25, 1.0, 0.75])
    optim_wrapper = OptimWrapper(_sgd(model), clip_grad=dict(max_norm=0.05))
    for batch in batches:
        model.train_step(batch, optim_wrapper)
    _reference(reference, batches, WIDTHS, [1.0] * 4,
               step_mode == 'accumulate', max_norm=0.05)
    for (name, got), want in zip(model.named_parameters(),
                                 reference.parameters()):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0, msg=name)
