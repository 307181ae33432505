# Copyright (c) slim_plugins contributors. All rights reserved.
"""distance_correlation against a naive double loop in float64."""
import pytest
import torch

from slim_plugins.models.losses import (DistanceCorrelationLoss,
                                        distance_correlation)


def _naive(x, z, floor=1e-4):
    n = x.shape[0]

    def centred(v):
        a = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                a[i, j] = torch.sqrt(
                    torch.clamp(((v[i] - v[j])**2).sum(), min=floor))
        return a - a.mean(0, keepdim=True) - a.mean(1, keepdim=True) + \
            a.mean()

    a, b = centred(x), centred(z)
    dcov = (a * b).mean()
    return torch.sqrt(dcov) / ((a * a).mean() * (b * b).mean())**0.25


def test_value_and_gradient_against_a_double_loop():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    z = (x.detach() @ torch.randn(5, 3, generator=gen, dtype=torch.float64)
         + 0.5 * torch.randn(7, 3, generator=gen, dtype=torch.float64))
    z.requires_grad_(True)
    fast = distance_correlation(x, z)
    slow = _naive(x, z)
    torch.testing.assert_close(fast, slow)
    g_fast = torch.autograd.grad(fast, (x, z))
    g_slow = torch.autograd.grad(_naive(x, z), (x, z))
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b)


def test_dependence_and_independence():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=gen, dtype=torch.float64)
    # exact dependence (an isometry): dCor ~ 1
    rotation, _ = torch.linalg.qr(
        torch.randn(8, 8, generator=gen, dtype=torch.float64))
    assert float(distance_correlation(x, 3.0 * x @ rotation)) > 0.999
    # independent samples: small, and shrinking with the batch
    z = torch.randn(256, 8, generator=gen, dtype=torch.float64)
    assert float(distance_correlation(x, z)) < 0.35


def test_loss_sign_and_bad_input():
    gen = torch.Generator().manual_seed(2)
    x, z = torch.randn(2, 6, 4, generator=gen)
    dcor = distance_correlation(x, z)
    torch.testing.assert_close(DistanceCorrelationLoss()(x, z), 1 - dcor)
    torch.testing.assert_close(
        DistanceCorrelationLoss(maximize=False, loss_weight=2.)(x, z),
        2 * dcor)
    with pytest.raises(ValueError, match='batch of 1'):
        distance_correlation(x[:1], z[:1])
    with pytest.raises(ValueError, match='6 and 5 rows'):
        distance_correlation(x, z[:5])
