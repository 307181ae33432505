# Copyright (c) slim_plugins contributors. All rights reserved.
"""LARSSGD: one step against the formula, by hand."""
import pytest
import torch

from slim_plugins.engine.optimizers import LARSSGD
from slim_plugins.registry import OPTIMIZERS


def _params(weight_grad=(0.6, 0.8)):
    weight = torch.nn.Parameter(torch.tensor([[3., 4.]]))  # ||p|| = 5
    bias = torch.nn.Parameter(torch.tensor([1.]))
    weight.grad = torch.tensor([weight_grad])
    bias.grad = torch.tensor([0.5])
    return weight, bias


def test_one_step_by_hand():
    weight, bias = _params()  # ||g|| = 1
    optimizer = OPTIMIZERS.build(
        dict(type='LARSSGD', params=[weight, bias], lr=0.1,
             weight_decay=0.01, eta=0.005))
    optimizer.step()
    # r = 0.005 * 5 / (1 + 0.01 * 5) = 0.0238095; r / lr = 0.238095 (< 1)
    # g' = (g + 0.01 p) r = (0.63, 0.84) * 0.238095 = (0.15, 0.2)
    # p <- p - 0.1 g' = (2.985, 3.98)
    torch.testing.assert_close(weight.data, torch.tensor([[2.985, 3.98]]))
    # 1-D: neither LARS nor weight decay: 1 - 0.1 * 0.5
    torch.testing.assert_close(bias.data, torch.tensor([0.95]))
    assert optimizer.param_groups[0]['weight_decay'] == 0.01


def test_clip_caps_the_ratio_at_one():
    weight, _ = _params()
    LARSSGD([weight], lr=0.1, weight_decay=0.01, eta=1.).step()
    # r / lr = 5 / 1.05 / 0.1 > 1 -> 1: plain SGD with weight decay
    want = torch.tensor([[3., 4.]]) - 0.1 * torch.tensor([[0.63, 0.84]])
    torch.testing.assert_close(weight.data, want)
    weight, _ = _params()
    LARSSGD([weight], lr=0.1, weight_decay=0.01, eta=1., clip=False).step()
    # no clip: g' = (0.63, 0.84) * 5 / 1.05
    want = torch.tensor([[3., 4.]]) - 0.1 * torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(weight.data, want)


def test_zero_gradient_still_decays_unless_reproducing_the_original():
    weight, _ = _params(weight_grad=(0., 0.))
    LARSSGD([weight], lr=0.1, weight_decay=0.01, eta=0.005).step()
    # r = eta / wd = 0.5, r / lr = 5 -> 1: g' = wd p, p <- p (1 - lr wd)
    torch.testing.assert_close(weight.data,
                               torch.tensor([[3., 4.]]) * (1 - 0.001))
    weight, _ = _params(weight_grad=(0., 0.))
    LARSSGD([weight], lr=0.1, weight_decay=0.01, eta=0.005,
            skip_zero_grad_decay=True).step()
    torch.testing.assert_close(weight.data, torch.tensor([[3., 4.]]))


def test_momentum_is_sgds_on_the_rescaled_gradient():
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(4, 3))
    reference = torch.nn.Parameter(weight.detach().clone())
    lars = LARSSGD([weight], lr=0.3, momentum=0.9, nesterov=True,
                   weight_decay=1e-4, eta=0.005)
    sgd = torch.optim.SGD([reference], lr=0.3, momentum=0.9, nesterov=True)
    for step in range(3):
        grad = torch.randn(4, 3, generator=torch.Generator().manual_seed(step))
        weight.grad = grad.clone()
        p = reference.detach()
        ratio = 0.005 * p.norm() / (grad.norm() + 1e-4 * p.norm() + 1e-8)
        ratio = torch.clamp(ratio / 0.3, max=1.)
        reference.grad = (grad + 1e-4 * p) * ratio
        lars.step()
        sgd.step()
        torch.testing.assert_close(weight.data, reference.data)


def test_bad_eta():
    with pytest.raises(ValueError, match='eta=0'):
        LARSSGD([torch.nn.Parameter(torch.ones(2, 2))], lr=0.1, eta=0)
