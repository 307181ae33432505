# Copyright (c) slim_plugins contributors. All rights reserved.
"""HOGRepresentation: both binnings against hand-computed values."""
import math

import pytest
import torch

from slim_plugins.models.representations import HOGRepresentation


def _ramp(theta, size=8):
    # I(r, c) = cos(theta) c + sin(theta) r: in the interior the Sobel
    # filters give gx = 8 cos(theta), gy = 8 sin(theta), magnitude 8.
    rows, cols = torch.meshgrid(
        torch.arange(size, dtype=torch.float32),
        torch.arange(size, dtype=torch.float32),
        indexing='ij')
    return (math.cos(theta) * cols + math.sin(theta) * rows)[None, None]


@pytest.mark.parametrize('original', [False, True])
def test_interior_pixel_bins(original):
    hog = HOGRepresentation(bins=24, pool_size=1, original_binning=original)
    # orientation at 6.5 bins: half way between bins 6 and 7
    theta = 6.5 * math.pi / 24
    out = hog(_ramp(theta))
    pixel = out[0, :, 3, 3]
    expected = torch.zeros(24)
    if original:
        expected[6], expected[7] = 8.0, 1 - 8.0
    else:
        expected[6], expected[7] = 4.0, 4.0
    torch.testing.assert_close(pixel, expected, atol=1e-4, rtol=1e-4)


def test_orientation_is_unsigned_and_wraps():
    hog = HOGRepresentation(bins=4, pool_size=1)
    # a gradient pointing at pi + 3.5 bins is the unsigned orientation of
    # 3.5 bins (of 4): its magnitude splits between bin 3 and bin 0
    theta = math.pi + 3.5 * math.pi / 4
    pixel = hog(_ramp(theta))[0, :, 3, 3]
    torch.testing.assert_close(pixel, torch.tensor([4.0, 0.0, 0.0, 4.0]),
                               atol=1e-4, rtol=1e-4)


def test_pooled_shape_per_channel_and_bad_input():
    hog = HOGRepresentation()
    out = hog(torch.rand(2, 3, 96, 96))
    assert out.shape == (2, 3 * 24, 12, 12)  # MV-MR's 10 368 on STL-10
    # the histogram mass of every pixel is its gradient magnitude
    assert torch.all(out >= 0)
    with pytest.raises(ValueError, match='pool_size=8 is larger'):
        hog(torch.rand(1, 1, 6, 6))
    with pytest.raises(ValueError, match='bins=1'):
        HOGRepresentation(bins=1)
