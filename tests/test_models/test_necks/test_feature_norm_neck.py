# Copyright (c) slim_plugins contributors. All rights reserved.
import torch

from slim_plugins.models.necks import FeatureNormNeck


def test_features_are_standardised_without_parameters():
    neck = FeatureNormNeck(4).train()
    assert not list(neck.parameters())
    x = torch.randn(64, 4) * torch.tensor([1., 10., 100., 1e4]) + 5.
    (out, ) = neck((x, ))
    # (x - mean) / sqrt(biased var + eps), per channel
    expected = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-6)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    neck.eval()
    (out_eval, ) = neck((x, ))
    # In eval mode the running statistics are used, not the batch's.
    assert not torch.allclose(out_eval, out)
