# Copyright (c) slim_plugins contributors. All rights reserved.
import importlib.util

import pytest
import torch

from slim_plugins.models.representations import (PixelRepresentation,
                                                 ScatteringRepresentation)


def test_pixels_are_the_image_without_gradient():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = PixelRepresentation()(x)
    torch.testing.assert_close(out, x.detach())
    assert not out.requires_grad


@pytest.mark.skipif(
    importlib.util.find_spec('kymatio') is not None,
    reason='kymatio is installed: the missing-package error cannot show')
def test_missing_kymatio_is_named():
    with pytest.raises(ImportError, match="optional package 'kymatio'"):
        ScatteringRepresentation(32)


@pytest.mark.skipif(
    importlib.util.find_spec('kymatio') is None,
    reason='kymatio (optional) is not installed')
def test_scattering_shape():
    out = ScatteringRepresentation(32)(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 81, 8, 8)
