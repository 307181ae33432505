# Copyright (c) slim_plugins contributors. All rights reserved.
import importlib.util
import sys

import pytest
import torch

from slim_plugins.models.representations import (PixelRepresentation,
                                                 ScatteringRepresentation)


def test_pixels_are_the_image_without_gradient():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = PixelRepresentation()(x)
    torch.testing.assert_close(out, x.detach())
    assert not out.requires_grad


def test_pixels_scale():
    x = torch.randn(2, 1, 4, 4)
    torch.testing.assert_close(PixelRepresentation(scale=1 / 32)(x), x / 32)


def test_missing_kymatio_is_named(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package
    # were not installed.
    monkeypatch.setitem(sys.modules, 'kymatio.torch', None)
    with pytest.raises(ImportError, match="optional package 'kymatio'"):
        ScatteringRepresentation(32)


@pytest.mark.skipif(
    importlib.util.find_spec('kymatio') is None,
    reason='kymatio (optional) is not installed')
def test_scattering_shape():
    images = torch.rand(2, 3, 32, 32)
    out = ScatteringRepresentation(32)(images)
    assert out.shape == (2, 3, 81, 8, 8)
    torch.testing.assert_close(
        ScatteringRepresentation(32, scale=0.5)(images), out * 0.5)
    with pytest.raises(ValueError, match='smaller than 2\\^J'):
        ScatteringRepresentation(3)
