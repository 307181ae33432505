# Copyright (c) slim_plugins contributors. All rights reserved.
"""GroupReg coefficients and penalty vs. hand computation."""
import pytest
import torch
import torch.nn as nn

from slim_plugins.models.losses import (GroupRegLoss, channel_groups,
                                        group_reg_coefficients)

LAM = 5e-5
US3L_FINAL = [LAM * (1 - 0.05 * i) for i in range(8)]


# ---------------------------------------------------------------------------
# coefficients
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('epoch', [200, 250, 399])
def test_us3l_setting_after_ramp(epoch):
    coeffs = group_reg_coefficients(
        epoch, 400, lambda_=LAM, alpha=0.05, bins=8, decay_type='linear')
    assert coeffs == pytest.approx(US3L_FINAL, rel=1e-12)
    # first 1/8 of the channels: lambda; last 1/8: 0.65 lambda
    assert coeffs[0] == pytest.approx(LAM)
    assert coeffs[-1] == pytest.approx(0.65 * LAM)


def test_linear_ramp_without_warmup():
    reg = GroupRegLoss(lambda_=LAM, alpha=0.05, bins=8)
    # E_r = 400 // 2 = 200; e = 0 -> alpha_e = 0 (plain L2)
    assert reg.coefficients(0, 400) == pytest.approx([LAM] * 8)
    # e = 100 -> alpha_e = 0.025, last group 1 - 7 * 0.025 = 0.825
    assert reg.coefficients(100, 400)[-1] == pytest.approx(0.825 * LAM)
    assert reg.coefficients(100, 400)[1] == pytest.approx(0.975 * LAM)


def test_warmup_equal_to_ramp_end_jumps_to_full_alpha():
    # ImageNet setting: 100 epochs, warm-up 50 = E // 2
    reg = GroupRegLoss(lambda_=LAM, warmup_epochs=50)
    assert reg.coefficients(49, 100) == pytest.approx([LAM] * 8)
    assert reg.coefficients(50, 100) == pytest.approx(US3L_FINAL)
    # warm-up longer than the default ramp end: same jump at E_w
    reg = GroupRegLoss(lambda_=LAM, warmup_epochs=80)
    assert reg.coefficients(79, 100) == pytest.approx([LAM] * 8)
    assert reg.coefficients(80, 100) == pytest.approx(US3L_FINAL)


def test_custom_ramp_end():
    reg = GroupRegLoss(
        lambda_=1.0, alpha=0.1, bins=3, warmup_epochs=10, ramp_end_epoch=30)
    # e = 20: r = (20 - 10) / (30 - 10) = 0.5, alpha_e = 0.05
    assert reg.coefficients(20, 100) == pytest.approx([1.0, 0.95, 0.9])
    assert reg.coefficients(30, 100) == pytest.approx([1.0, 0.9, 0.8])


def test_exp_decay_is_continuous_by_default():
    reg = GroupRegLoss(
        lambda_=1.0,
        alpha=0.5,
        bins=3,
        decay_type='exp',
        warmup_epochs=10,
        ramp_end_epoch=20)
    assert reg.coefficients(9, 40) == pytest.approx([1.0, 1.0, 1.0])
    # r = 0: base 1 -> still plain L2 (no jump to 0)
    assert reg.coefficients(10, 40) == pytest.approx([1.0, 1.0, 1.0])
    # r = 0.5: base 1 - 0.5 * 0.5 = 0.75
    assert reg.coefficients(15, 40) == pytest.approx([1.0, 0.75, 0.5625])
    # end of the ramp: lambda * alpha^i, as in the reference
    assert reg.coefficients(20, 40) == pytest.approx([1.0, 0.5, 0.25])


def test_exp_ramp_bug_flag():
    reg = GroupRegLoss(
        lambda_=1.0,
        alpha=0.5,
        bins=3,
        decay_type='exp',
        warmup_epochs=10,
        ramp_end_epoch=20,
        reproduce_exp_ramp_bug=True)
    # alpha_e = 0 at the start of the ramp: 0^0 = 1, then 0
    assert reg.coefficients(10, 40) == [1.0, 0.0, 0.0]
    # r = 0.5: base 0.25
    assert reg.coefficients(15, 40) == pytest.approx([1.0, 0.25, 0.0625])
    assert reg.coefficients(20, 40) == pytest.approx([1.0, 0.5, 0.25])


@pytest.mark.parametrize('kwargs, match', [
    (dict(decay_type='cosine'), "decay_type='cosine'"),
    (dict(bins=0), 'bins=0'),
    (dict(alpha=0.2), 'negative'),
    (dict(lambda_=-1.0), 'lambda_=-1.0'),
    (dict(alpha=-0.1), 'alpha=-0.1'),
    (dict(warmup_epochs=-1), 'warmup_epochs=-1'),
    (dict(binning='round'), "binning='round'"),
])
def test_group_reg_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GroupRegLoss(**kwargs)


def test_group_reg_bad_schedule_and_width():
    reg = GroupRegLoss(warmup_epochs=120)
    with pytest.raises(ValueError, match='beyond max_epochs=100'):
        reg.coefficients(0, 100)
    with pytest.raises(ValueError, match='width=0'):
        GroupRegLoss()(nn.Linear(2, 2), 0, 10, width=0)
    with pytest.raises(TypeError, match='exclude_keys'):
        GroupRegLoss(exclude_keys='encoder_k')


# ---------------------------------------------------------------------------
# channel groups
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    'channels, bins, even, reference',
    [
        (8, 8, list(range(8)), list(range(8))),
        (16, 4, [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4,
         [0] * 4 + [1] * 4 + [2] * 4 + [3] * 4),
        # C < K: the reference puts every channel in the last group
        (3, 8, [0, 2, 5], [7, 7, 7]),
        (1, 8, [0], [7]),
        # C = 10, K = 8: even -> floor(8c / 10); reference -> size 1, rest last
        (10, 8, [0, 0, 1, 2, 3, 4, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7, 7, 7]
         ),
    ])
def test_channel_groups(channels, bins, even, reference):
    assert channel_groups(channels, bins, 'even').tolist() == even
    assert channel_groups(channels, bins, 'reference').tolist() == reference


# ---------------------------------------------------------------------------
# the penalty R
# ---------------------------------------------------------------------------
class TinyModel(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2, 1)
        self.predictor = nn.Linear(1, 1, bias=False)
        self.encoder_k = nn.Linear(1, 1, bias=False)
        self.momentum_proj = nn.Linear(1, 1, bias=False)
        self.frozen = nn.Linear(1, 1, bias=False)
        self.frozen.weight.requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1., 2.]).view(2, 1, 1, 1))
            self.bn.weight.copy_(torch.tensor([3., 4.]))
            self.bn.bias.copy_(torch.tensor([1., 1.]))
            self.fc.weight.copy_(torch.tensor([[1., 2.]]))
            self.fc.bias.copy_(torch.tensor([2.]))
            self.predictor.weight.fill_(3.)
            self.encoder_k.weight.fill_(10.)
            self.momentum_proj.weight.fill_(10.)
            self.frozen.weight.fill_(10.)


def test_penalty_hand_computed():
    lam = 0.1
    # 2 groups, full ramp: lambda_0 = lam, lambda_1 = 0.5 lam
    reg = GroupRegLoss(lambda_=lam, alpha=0.5, bins=2)
    model = TinyModel()
    # conv (out channels 1, 2): lam * 1 + 0.5 lam * 4        = 3 lam
    # bn.weight (3, 4):         lam * 9 + 0.5 lam * 16       = 17 lam
    # bn.bias (1, 1):           lam * 1 + 0.5 lam * 1        = 1.5 lam
    # fc.weight (2-D, plain):   lam * (1 + 4)                = 5 lam
    # fc.bias (C=1 -> group 0): lam * 4                      = 4 lam
    # predictor (2-D, plain):   lam * 9 (skipped at width 1) = 9 lam
    # encoder_k, momentum_*, frozen: excluded
    at_half = reg(model, epoch=10, max_epochs=10, width=0.5)
    assert at_half.dtype == torch.float32
    assert at_half.item() == pytest.approx(39.5 * lam, rel=1e-6)
    at_full = reg(model, epoch=10, max_epochs=10, width=1.0)
    assert at_full.item() == pytest.approx(30.5 * lam, rel=1e-6)
    # explicit teacher-branch flag overrides the width rule
    assert reg(model, 10, 10, 0.5, skip_predictor=True).item() == \
        pytest.approx(30.5 * lam, rel=1e-6)
    never = GroupRegLoss(
        lambda_=lam, alpha=0.5, bins=2, predictor_skip_width=None)
    assert never(model, 10, 10, 1.0).item() == pytest.approx(
        39.5 * lam, rel=1e-6)
    # reference binning: fc.bias (C=1 < K=2) goes to the last group
    ref = GroupRegLoss(lambda_=lam, alpha=0.5, bins=2, binning='reference')
    assert ref(model, 10, 10, 1.0).item() == pytest.approx(
        28.5 * lam, rel=1e-6)


def test_linear_weights_plain_or_grouped():
    lam = 0.1
    linear = nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.], [2.]]))
    # plain: lam * (1 + 4); grouped over outputs: lam * 1 + 0.5 lam * 4
    plain = GroupRegLoss(lambda_=lam, alpha=0.5, bins=2)
    assert plain(linear, 10, 10, 1.0).item() == pytest.approx(5 * lam)
    grouped = GroupRegLoss(
        lambda_=lam, alpha=0.5, bins=2, group_linear_weights=True)
    assert grouped(linear, 10, 10, 1.0).item() == pytest.approx(3 * lam)


def test_penalty_gradient_is_per_group_weight_decay():
    lam = 0.1
    model = TinyModel()
    reg = GroupRegLoss(lambda_=lam, alpha=0.5, bins=2)
    reg(model, 10, 10, 0.5).backward()
    # dR/dp = 2 lambda_i p
    assert model.conv.weight.grad.flatten().tolist() == pytest.approx(
        [2 * lam * 1., 2 * 0.5 * lam * 2.])
    assert model.fc.weight.grad.flatten().tolist() == pytest.approx(
        [2 * lam * 1., 2 * lam * 2.])
    assert model.encoder_k.weight.grad is None
    assert model.momentum_proj.weight.grad is None


def naive_penalty(module, coeffs, bins, skip=('encoder_k', )):
    total = 0.0
    for name, param in module.named_parameters():
        if any(key in name for key in skip):
            continue
        values = param.detach().double()
        if values.dim() == 2:
            total += LAM * float((values**2).sum())
            continue
        channels = values.shape[0]
        for c in range(channels):
            group = c * bins // channels
            total += coeffs[group] * float((values[c]**2).sum())
    return total


def test_penalty_matches_naive_loop_on_random_model():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5), nn.Flatten(), nn.Linear(5, 3),
        nn.BatchNorm1d(3))
    reg = GroupRegLoss(lambda_=LAM, alpha=0.05, bins=4)
    for epoch in (0, 30, 60, 99):
        coeffs = reg.coefficients(epoch, 100)
        value = reg(model, epoch, 100, width=0.5).item()
        assert value == pytest.approx(
            naive_penalty(model, coeffs, 4), rel=1e-6)
