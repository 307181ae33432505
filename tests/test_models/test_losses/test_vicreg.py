# Copyright (c) slim_plugins contributors. All rights reserved.
"""VICRegLoss against hand-computed values."""
import math

import pytest
import torch

from slim_plugins.registry import MODELS


def test_vicreg_by_hand():
    z_a = torch.tensor([[1., 2.], [3., 6.]])
    z_b = torch.tensor([[1., 2.], [3., 2.5]])
    loss = MODELS.build(dict(type='VICRegLoss'))
    terms = loss.components(z_a, z_b)
    # sim: the only difference is 3.5 -> 3.5^2 / 4
    assert terms['sim'].item() == pytest.approx(12.25 / 4)
    # var: z_a has variances 2 and 8 (std > 1, no hinge); z_b column 1 has
    # variance 0.125 -> (1 - sqrt(0.1251)) / 2 over the 2 columns
    assert terms['var'].item() == pytest.approx(
        (1 - math.sqrt(0.125 + 1e-4)) / 2, rel=1e-6)
    # cov: C(z_a) = [[2, 4], [4, 8]] -> 2 * 4^2 / 2 = 16;
    #      C(z_b) = [[2, 0.5], [0.5, 0.125]] -> 2 * 0.5^2 / 2 = 0.25
    assert terms['cov'].item() == pytest.approx(16.25)
    total = 25 * terms['sim'] + 25 * terms['var'] + terms['cov']
    assert loss(z_a, z_b).item() == pytest.approx(total.item())


def test_vicreg_bad_input():
    loss = MODELS.build(dict(type='VICRegLoss'))
    with pytest.raises(ValueError, match='N >= 2'):
        loss(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match=r'\(4, 3\) and \(4, 2\)'):
        loss(torch.ones(4, 3), torch.ones(4, 2))
