# Copyright (c) slim_plugins contributors. All rights reserved.
"""Contrastive, cosine and distillation losses vs. naive implementations."""
import math

import pytest
import torch
import torch.nn.functional as F

from slim_plugins.models.losses import (DistillationLoss, InfoNCELoss,
                                        InfoNCEv2DistillLoss,
                                        MoCoV3ContrastiveLoss,
                                        NegativeCosineLoss, moco_logits)
from slim_plugins.registry import MODELS


def _rows(t):
    return t.detach().tolist()


def _normalise(row):
    norm = math.sqrt(sum(x * x for x in row))
    return [x / norm for x in row]


def _dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def _log_softmax(row):
    top = max(row)
    log_sum = top + math.log(sum(math.exp(x - top) for x in row))
    return [x - log_sum for x in row]


def _pair(seed=0, shape=(3, 2)):
    gen = torch.Generator().manual_seed(seed)
    student = torch.randn(*shape, generator=gen, dtype=torch.float64)
    teacher = torch.randn(*shape, generator=gen, dtype=torch.float64)
    return student.requires_grad_(), teacher.requires_grad_()


# ---------------------------------------------------------------------------
# InfoNCEv2DistillLoss
# ---------------------------------------------------------------------------
def naive_infonce_v2(student, teacher, tau):
    a = [_normalise(r) for r in _rows(student)]
    b = [_normalise(r) for r in _rows(teacher)]
    u = a + b
    n = len(a)
    total = 0.0
    for i in range(2 * n):
        positive = math.exp(_dot(a[i % n], b[i % n]) / tau)
        denominator = sum(
            math.exp(_dot(u[i], u[j]) / tau) for j in range(2 * n) if j != i)
        total += -math.log(positive / denominator)
    return total / (2 * n)


def test_infonce_v2_matches_naive_loop():
    student, teacher = _pair(0)
    loss = InfoNCEv2DistillLoss(temperature=0.5)(student, teacher)
    assert loss.item() == pytest.approx(
        naive_infonce_v2(student, teacher, 0.5), rel=1e-10)
    loss = InfoNCEv2DistillLoss(temperature=0.1)(student * 3, teacher)
    assert loss.item() == pytest.approx(
        naive_infonce_v2(student * 3, teacher, 0.1), rel=1e-10)


def test_infonce_v2_hand_values():
    # B = 1: the only other row is the positive -> -log(1) = 0
    loss = InfoNCEv2DistillLoss()(torch.tensor([[1., 2.]]),
                                  torch.tensor([[-3., 1.]]))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    # orthonormal pairs, tau = 0.5: each row sees e^2 (positive) + 2 e^0
    eye = torch.eye(2)
    loss = InfoNCEv2DistillLoss(temperature=0.5)(eye, eye.clone())
    assert loss.item() == pytest.approx(math.log(1 + 2 * math.exp(-2)))


def test_infonce_v2_teacher_gets_no_gradient_and_cross_view():
    student, teacher = _pair(1)
    criterion = InfoNCEv2DistillLoss(temperature=0.5, loss_weight=2.0)
    criterion(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0

    s1, t1 = _pair(2)
    s2, t2 = _pair(3)
    expected = (naive_infonce_v2(s1, t2, 0.5) +
                naive_infonce_v2(s2, t1, 0.5)) / 2
    assert criterion.cross_view([s1, s2], [t1, t2]).item() == pytest.approx(
        2.0 * expected, rel=1e-10)


def test_infonce_v2_shape_check():
    with pytest.raises(ValueError, match='same shape'):
        InfoNCEv2DistillLoss()(torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match='temperature'):
        InfoNCEv2DistillLoss(temperature=0)


# ---------------------------------------------------------------------------
# NegativeCosineLoss
# ---------------------------------------------------------------------------
def test_negative_cosine_hand_value_and_gradient():
    pred = torch.tensor([[1., 0.], [0., 2.]], requires_grad=True)
    target = torch.tensor([[3., 0.], [1., 0.]], requires_grad=True)
    loss = NegativeCosineLoss()(pred, target)
    # cos = [1, 0] -> -mean = -0.5
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    assert target.grad is None and pred.grad.abs().sum() > 0


def test_negative_cosine_cross_view():
    q1, q2 = torch.tensor([[1., 0.]]), torch.tensor([[0., 1.]])
    t1, t2 = torch.tensor([[1., 1.]]), torch.tensor([[0., 5.]])
    # (-cos(q1, t2) - cos(q2, t1)) / 2 = (0 - 1/sqrt(2)) / 2
    loss = NegativeCosineLoss().cross_view([q1, q2], [t1, t2])
    assert loss.item() == pytest.approx(-1 / (2 * math.sqrt(2)))


# ---------------------------------------------------------------------------
# DistillationLoss
# ---------------------------------------------------------------------------
def naive_kd(student, teacher, temperature, exact=False):
    total = 0.0
    for s_row, t_row in zip(_rows(student), _rows(teacher)):
        log_q = _log_softmax([x / temperature for x in s_row])
        log_p = _log_softmax([x / temperature for x in t_row])
        for lp, lq in zip(log_p, log_q):
            total += math.exp(lp) * ((lp if exact else 0.0) - lq)
    return temperature**2 * total / len(_rows(student))


@pytest.mark.parametrize('temperature', [1.0, 2.0, 5.0])
def test_kd_cross_entropy_form_matches_naive(temperature):
    student, teacher = _pair(4, shape=(3, 4))
    loss = DistillationLoss('kl', temperature=temperature)(student, teacher)
    assert loss.item() == pytest.approx(
        naive_kd(student, teacher, temperature), rel=1e-10)
    loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


def test_kd_exact_kl():
    student, teacher = _pair(5, shape=(3, 4))
    loss = DistillationLoss(
        'kl', temperature=2.0, exact_kl=True)(student, teacher)
    assert loss.item() == pytest.approx(
        naive_kd(student, teacher, 2.0, exact=True), rel=1e-10)
    # torch's own KL (batchmean) as a second, independent reference
    reference = 4.0 * F.kl_div(
        F.log_softmax(student / 2, 1),
        F.softmax(teacher / 2, 1),
        reduction='batchmean')
    assert loss.item() == pytest.approx(reference.item(), rel=1e-10)
    # KL of a distribution with itself is 0; the CE form is the entropy
    same = DistillationLoss('kl', exact_kl=True)(teacher, teacher)
    assert same.item() == pytest.approx(0.0, abs=1e-12)
    uniform = torch.zeros(2, 4)
    ce = DistillationLoss('kl', temperature=5.0)(uniform, uniform)
    assert ce.item() == pytest.approx(25.0 * math.log(4))


def test_kd_separate_teacher_temperature():
    student, teacher = _pair(6, shape=(2, 3))
    loss = DistillationLoss(
        'kl', temperature=2.0, teacher_temperature=0.5)(student, teacher)
    log_q = F.log_softmax(student / 2.0, 1)
    p = F.softmax(teacher / 0.5, 1)
    assert loss.item() == pytest.approx(
        (4.0 * -(p * log_q).sum(1).mean()).item(), rel=1e-10)


def test_distillation_cosine_and_mse():
    student = torch.tensor([[1., 0.], [1., 1.]], requires_grad=True)
    teacher = torch.tensor([[0., 2.], [2., 2.]], requires_grad=True)
    cosine = DistillationLoss('cosine')(student, teacher)
    assert cosine.item() == pytest.approx(-(0.0 + 1.0) / 2)
    # squared errors 1, 4, 1, 1 -> mean 7 / 4
    mse = DistillationLoss('mse', loss_weight=2.0)(student, teacher)
    assert mse.item() == pytest.approx(2.0 * 7 / 4)
    (cosine + mse).backward()
    assert teacher.grad is None


def test_distillation_bad_input():
    with pytest.raises(ValueError, match="mode='l1'"):
        DistillationLoss('l1')
    with pytest.raises(ValueError, match='temperatures must be > 0'):
        DistillationLoss('kl', temperature=0.0)
    with pytest.raises(ValueError, match='differ'):
        DistillationLoss('mse')(torch.zeros(2, 3), torch.zeros(3, 2))


# ---------------------------------------------------------------------------
# InfoNCELoss (MoCo v2) and MoCoV3ContrastiveLoss
# ---------------------------------------------------------------------------
def test_moco_logits_and_infonce():
    query = torch.tensor([[1., 0.], [0., 1.]])
    key = torch.tensor([[0.6, 0.8], [0., 1.]])
    queue = torch.tensor([[1., 0., -1.], [0., 1., 0.]])  # C x K
    logits = moco_logits(query, key, queue)
    assert logits.flatten().tolist() == pytest.approx(
        [0.6, 1., 0., -1., 1., 0., 1., 0.])
    loss = InfoNCELoss(temperature=0.2)(logits)
    expected = 0.0
    for row in logits.tolist():
        expected += -_log_softmax([x / 0.2 for x in row])[0]
    assert loss.item() == pytest.approx(expected / 2, rel=1e-6)
    labels = torch.tensor([1, 2])
    loss = InfoNCELoss(temperature=0.5, loss_weight=3.0)(logits, labels)
    expected = sum(-_log_softmax([x / 0.5 for x in row])[y]
                   for row, y in zip(logits.tolist(), (1, 2)))
    assert loss.item() == pytest.approx(3.0 * expected / 2, rel=1e-6)


def naive_mocov3(query, keys, tau, offset=0):
    q = [_normalise(r) for r in _rows(query)]
    k = [_normalise(r) for r in _rows(keys)]
    total = 0.0
    for n, q_row in enumerate(q):
        log_probs = _log_softmax([_dot(q_row, k_row) / tau for k_row in k])
        total += -log_probs[offset + n]
    return 2 * tau * total / len(q)


@pytest.mark.parametrize('tau', [1.0, 0.2])
def test_mocov3_loss_matches_naive(tau):
    query, keys = _pair(7, shape=(3, 2))
    criterion = MoCoV3ContrastiveLoss(temperature=tau)
    loss = criterion(query, keys)
    assert loss.item() == pytest.approx(
        naive_mocov3(query, keys, tau), rel=1e-10)
    loss.backward()
    assert keys.grad is None and query.grad.abs().sum() > 0
    # this rank's 2 queries against 4 gathered keys, positives at 2 and 3
    query, keys = _pair(8, shape=(4, 2))
    loss = criterion(query[:2], keys, label_offset=2)
    assert loss.item() == pytest.approx(
        naive_mocov3(query[:2], keys, tau, offset=2), rel=1e-10)
    with pytest.raises(ValueError, match='label_offset=3'):
        criterion(query[:2], keys, label_offset=3)


def test_losses_build_from_registry():
    for cfg in (dict(type='InfoNCEv2DistillLoss',
                     temperature=0.5), dict(type='NegativeCosineLoss'),
                dict(type='DistillationLoss', mode='kl',
                     temperature=5.0), dict(type='InfoNCELoss'),
                dict(type='MoCoV3ContrastiveLoss'), dict(type='GroupRegLoss')):
        module = MODELS.build(cfg)
        assert type(module).__name__ == cfg['type']
