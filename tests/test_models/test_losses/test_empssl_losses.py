# Copyright (c) slim_plugins contributors. All rights reserved.
"""EMP-SSL's total coding rate and patch invariance against hand-computed
values."""
import math

import pytest
import torch
import torch.nn.functional as F

from slim_plugins.models.losses import (PatchInvarianceLoss,
                                        TotalCodingRateLoss, coding_rate)
from slim_plugins.registry import MODELS


def test_coding_rate_by_hand():
    # Z = [[1, 0], [0, 1], [1, 0]] (B = 3, d = 2), eps = 0.5:
    # c = d / (B eps) = 4/3, Z^T Z = diag(2, 1),
    # R = 1/2 log((1 + 8/3)(1 + 4/3)) = 1/2 log(77/9)
    z = torch.tensor([[1., 0.], [0., 1.], [1., 0.]])
    assert coding_rate(z, eps=0.5).item() == pytest.approx(
        0.5 * math.log(77 / 9), rel=1e-6)


@pytest.mark.parametrize('batch, dim', [(4, 9), (9, 4)])
def test_both_gram_matrices_give_the_same_rate(batch, dim):
    # Sylvester: the B x B and d x d forms agree; compare with slogdet of
    # the d x d form directly (float64).
    z = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=1)
    scale = dim / (batch * 0.2)
    want = 0.5 * torch.linalg.slogdet(
        torch.eye(dim, dtype=torch.float64) + scale * z.t() @ z)[1]
    got = coding_rate(z)
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(want.item(), rel=1e-10)


def test_tcr_loss_averages_patch_chunks_and_runs_in_float32():
    torch.manual_seed(0)
    z = F.normalize(torch.randn(12, 5), dim=1)  # 3 patches x 4 images
    loss = MODELS.build(dict(type='TotalCodingRateLoss', eps=0.2))
    want = -sum(coding_rate(chunk) for chunk in z.chunk(3)) / 3
    assert loss(z, num_chunks=3).item() == pytest.approx(want.item())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = loss(z.bfloat16(), num_chunks=3)
    assert low.dtype == torch.float32
    # Spread embeddings code at a higher rate than collapsed ones.
    collapsed = F.normalize(torch.ones(12, 5), dim=1)
    assert loss(collapsed, 3) > loss(z, 3)
    with pytest.raises(ValueError, match='num_chunks=5'):
        loss(z, num_chunks=5)
    with pytest.raises(ValueError, match='eps'):
        TotalCodingRateLoss(eps=0)


def test_patch_invariance_by_hand():
    # 2 patches x 1 image: z_0 = (1, 0), z_1 = (0, 1): mean (1/2, 1/2),
    # cos(z_i, mean) = 1/sqrt(2) for both -> L = -1/sqrt(2).
    loss = PatchInvarianceLoss()
    z = torch.tensor([[1., 0.], [0., 1.]])
    assert loss(z, num_patches=2).item() == pytest.approx(-1 / math.sqrt(2))
    # Identical patches: every cosine is 1.
    same = torch.tensor([[1., 2.], [3., 1.], [1., 2.], [3., 1.]])
    assert loss(same, num_patches=2).item() == pytest.approx(-1.0)
    weighted = PatchInvarianceLoss(loss_weight=200.)
    assert weighted(z, 2).item() == pytest.approx(-200 / math.sqrt(2))


def test_patch_invariance_layout_and_gradient_through_the_mean():
    # Patch-major rows: image b's patches are rows b, B + b, ...
    torch.manual_seed(0)
    z = torch.randn(6, 4, requires_grad=True)  # 3 patches x 2 images
    loss = PatchInvarianceLoss()(z, num_patches=3)
    patches = z.detach().reshape(3, 2, 4)
    want = -torch.stack([
        F.cosine_similarity(patches[i, b], patches[:, b].mean(0), dim=0)
        for i in range(3) for b in range(2)
    ]).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    loss.backward()
    # Through the mean as well: the gradient differs from a detached mean.
    detached = z.detach().clone().requires_grad_()
    parts = detached.reshape(3, 2, 4)
    mean = parts.mean(0, keepdim=True).detach()
    (-F.cosine_similarity(parts, mean.expand_as(parts), dim=2).mean()
     ).backward()
    assert not torch.allclose(z.grad, detached.grad)
    with pytest.raises(ValueError, match='num_patches=4'):
        PatchInvarianceLoss()(z, num_patches=4)


def test_gaussian_potential_uniformity_by_hand():
    # 1 patch x 3 images at (0,0), (1,0), (0,2): squared distances 1, 4, 5
    z = torch.tensor([[0., 0.], [1., 0.], [0., 2.]])
    loss = MODELS.build(dict(type='GaussianPotentialUniformity', t=2.))
    want = math.log((math.exp(-2) + math.exp(-8) + math.exp(-10)) / 3)
    assert loss(z, num_patches=1).item() == pytest.approx(want, rel=1e-6)
    # On per-image means: two patches averaging to the same points.
    two = torch.cat([z + 1, z - 1])
    assert loss(two, num_patches=2).item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match='at least 2 images'):
        loss(z, num_patches=3)
