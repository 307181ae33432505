# Copyright (c) slim_plugins contributors. All rights reserved.
"""ChannelGate: the binary Gumbel-sigmoid against its formula."""
import pytest
import torch

from slim_plugins.models.utils import ChannelGate


def _gate():
    torch.manual_seed(0)
    gate = ChannelGate(8, 4, reduction=4, tau=0.5)
    return gate


def test_training_mask_and_straight_through_gradient():
    gate = _gate().train()
    x = torch.randn(3, 8, 5, 5)
    a = gate.logits(x).detach()
    noise = torch.tensor([[0.3, -2.0, 1.0, 0.0]] * 3)
    # hard = 1[sigmoid((a + g) / tau) >= 0.5] = 1[a + g >= 0]
    mask = gate(x, noise=noise)
    torch.testing.assert_close(mask, (a + noise >= 0).float())
    # The gradient is that of y = sigmoid((a + g) / tau):
    # dL/da = w * y (1 - y) / tau for L = sum(w * mask).
    weights = torch.randn(3, 4)
    logits = gate.logits(x)
    logits.retain_grad()
    soft = torch.sigmoid((logits + noise) / gate.tau)
    hard = (soft >= 0.5).float()
    ((hard - soft).detach() + soft).mul(weights).sum().backward()
    expected = weights * soft * (1 - soft) / gate.tau
    torch.testing.assert_close(logits.grad, expected.detach())
    # the same through the module
    gate.zero_grad()
    x.requires_grad_(True)
    (gate(x, noise=noise) * weights).sum().backward()
    grad_module = x.grad.clone()
    x.grad = None
    logits2 = gate.logits(x)
    soft2 = torch.sigmoid((logits2 + noise) / gate.tau)
    (((soft2 >= 0.5).float() - soft2).detach() + soft2).mul(
        weights).sum().backward()
    torch.testing.assert_close(grad_module, x.grad)


def test_noise_is_logistic_and_seedable():
    gate = _gate().train()
    x = torch.randn(64, 8, 3, 3)
    first = gate(x, generator=torch.Generator().manual_seed(5))
    again = gate(x, generator=torch.Generator().manual_seed(5))
    other = gate(x, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, other)


def test_eval_threshold_has_no_noise():
    gate = _gate().eval()
    x = torch.randn(5, 8, 4, 4)
    a = gate.logits(x)
    torch.testing.assert_close(gate(x), (a >= 0).float())
    torch.testing.assert_close(gate(x), gate(x))


def test_bad_input():
    with pytest.raises(ValueError, match='tau=0'):
        ChannelGate(8, 4, tau=0)
    with pytest.raises(ValueError, match='tau=-1'):
        ChannelGate(8, 4, tau=-1)
    with pytest.raises(ValueError, match='reduction=16'):
        ChannelGate(8, 4, reduction=16)
    gate = _gate().train()
    with pytest.raises(ValueError, match='noise of shape'):
        gate(torch.randn(2, 8, 3, 3), noise=torch.zeros(2, 5))
