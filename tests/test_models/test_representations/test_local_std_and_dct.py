# Copyright (c) slim_plugins contributors. All rights reserved.
"""LocalStdRepresentation and DCTRepresentation on hand-computed cases."""
import math

import pytest
import torch

from slim_plugins.models.representations import (DCTRepresentation,
                                                 LocalStdRepresentation,
                                                 dct_2d)


def test_local_std_by_hand():
    image = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    out = LocalStdRepresentation()(image)
    assert out.shape == image.shape
    # centre pixel (1, 1): its 3x3 window holds 0 1 2 / 4 5 6 / 8 9 10
    window = torch.tensor([0., 1, 2, 4, 5, 6, 8, 9, 10])
    expected = math.sqrt(window.var(unbiased=False).item() + 1e-8)
    assert out[0, 0, 1, 1].item() == pytest.approx(expected, rel=1e-6)
    # corner (0, 0) with reflect padding: rows 1 0 1, columns 1 0 1
    corner = torch.tensor([5., 4, 5, 1, 0, 1, 5, 4, 5])
    expected = math.sqrt(corner.var(unbiased=False).item() + 1e-8)
    assert out[0, 0, 0, 0].item() == pytest.approx(expected, rel=1e-6)
    # a constant image has (almost) no local deviation
    flat = LocalStdRepresentation()(torch.full((2, 3, 5, 5), 7.))
    assert torch.allclose(flat, torch.full_like(flat, 1e-4))


def test_local_std_bad_input():
    with pytest.raises(ValueError, match='kernel_size=4'):
        LocalStdRepresentation(4)
    with pytest.raises(ValueError, match='too small'):
        LocalStdRepresentation(5)(torch.zeros(1, 1, 2, 2))


def _dct_matrix(n):
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    m = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


@pytest.mark.parametrize('h,w', [(4, 4), (5, 6), (7, 3)])
def test_dct_against_the_cosine_matrices(h, w):
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    expected = _dct_matrix(h) @ x @ _dct_matrix(w).t()
    torch.testing.assert_close(dct_2d(x), expected)
    torch.testing.assert_close(DCTRepresentation()(x), expected)


def test_dct_of_a_constant_image_is_its_dc_term():
    # orthonormal: DC = c * sqrt(H W), every other coefficient 0
    out = DCTRepresentation()(torch.full((1, 1, 4, 4), 2.0))
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 0, 0] = 2.0 * 4
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
