# Copyright (c) slim_plugins contributors. All rights reserved.
"""FLOPsBudgetLoss and BlockDensityBoundLoss against their formulas."""
import math

import pytest
import torch

from slim_plugins.models.losses import BlockDensityBoundLoss, FLOPsBudgetLoss


def test_budget_loss():
    loss = FLOPsBudgetLoss(target=0.3)
    # 5 * (0.5 - 0.3)^2 = 0.2
    torch.testing.assert_close(loss(torch.tensor(0.5)), torch.tensor(0.2))
    ratio = torch.tensor(0.1, requires_grad=True)
    loss(ratio).backward()
    # d/dr 5 (r - t)^2 = 10 (r - t) = -2
    torch.testing.assert_close(ratio.grad, torch.tensor(-2.0))


def test_bound_loss():
    loss = BlockDensityBoundLoss(target=0.25, loss_weight=2.0)
    # p = 1: lo = hi = sqrt(0.25) = 0.5
    assert loss.bounds(1.0) == (0.5, 0.5)
    # p = 0.5: lo = 0.25, hi = 1 - 0.5 * 0.5 = 0.75
    assert loss.bounds(0.5) == (0.25, 0.75)
    densities = torch.tensor([0.1, 0.5, 0.9, 0.7])
    # below: (0.25 - 0.1)^2; above: (0.9 - 0.75)^2; mean over 4, x gamma 2
    expected = 2.0 * (0.15**2 + 0.15**2) / 4
    torch.testing.assert_close(loss(densities, 0.5), torch.tensor(expected))
    assert float(loss(densities, 0.0)) == 0.0  # bounds [0, 1]
    with pytest.raises(ValueError, match='p=1.5'):
        loss(densities, 1.5)


@pytest.mark.parametrize('target', [0, -0.1, 1.2, True, '0.3'])
def test_targets_outside_the_range_are_refused(target):
    with pytest.raises(ValueError, match=r'target=.* must lie in \(0, 1\]'):
        FLOPsBudgetLoss(target)
    with pytest.raises(ValueError, match=r'target=.* must lie in \(0, 1\]'):
        BlockDensityBoundLoss(target)


def test_sqrt_target_bound_at_p_one():
    loss = BlockDensityBoundLoss(target=0.3)
    lo, hi = loss.bounds(1.0)
    assert lo == pytest.approx(math.sqrt(0.3)) == hi
