# Copyright (c) slim_plugins contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.ops import SlimConv2d, SlimLinear, set_width


def test_conv_uses_leading_slice():
    torch.manual_seed(0)
    conv = SlimConv2d(16, 32, 3, padding=1, bias=True)
    assert isinstance(conv, nn.Conv2d)
    set_width(conv, 0.5)
    x = torch.randn(2, 8, 5, 5)
    expected = F.conv2d(x, conv.weight[:16, :8], conv.bias[:16], padding=1)
    assert torch.allclose(conv(x), expected)
    assert conv.export_state()['weight'].shape == (16, 8, 3, 3)


def test_conv_full_width_is_plain_conv():
    conv = SlimConv2d(8, 16, 3)
    x = torch.randn(1, 8, 6, 6)
    assert torch.equal(conv(x), nn.Conv2d.forward(conv, x))


def test_fixed_input_or_output():
    stem = SlimConv2d(3, 64, 3, slim_in=False)
    set_width(stem, 0.25)
    assert stem.active_channels() == (16, 3)
    head = SlimConv2d(64, 10, 1, slim_out=False)
    set_width(head, 0.25)
    assert head(torch.randn(1, 16, 2, 2)).shape == (1, 10, 2, 2)


def test_depthwise_groups_follow_input():
    conv = SlimConv2d(32, 32, 3, padding=1, groups=32)
    set_width(conv, 0.5)
    x = torch.randn(1, 16, 4, 4)
    expected = F.conv2d(x, conv.weight[:16], conv.bias[:16], padding=1,
                        groups=16)
    assert torch.allclose(conv(x), expected)
    with pytest.raises(ValueError, match='depthwise'):
        SlimConv2d(32, 64, 3, groups=32)


def test_gradients_reach_only_active_slice():
    conv = SlimConv2d(16, 32, 3)
    set_width(conv, 0.5)
    conv(torch.randn(2, 8, 5, 5)).sum().backward()
    grad = conv.weight.grad
    assert grad[:16, :8].abs().sum() > 0
    assert grad[16:].abs().sum() == 0 and grad[:, 8:].abs().sum() == 0
    assert conv.bias.grad[16:].abs().sum() == 0


def test_linear():
    fc = SlimLinear(64, 10)
    set_width(fc, 0.25)
    x = torch.randn(3, 16)
    assert torch.allclose(fc(x), F.linear(x, fc.weight[:, :16], fc.bias))
    both = SlimLinear(64, 32, slim_out=True, channel_rule='int')
    set_width(both, 0.25)
    assert both(torch.randn(3, 16)).shape == (3, 8)
