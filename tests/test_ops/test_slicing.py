# Copyright (c) slim_plugins contributors. All rights reserved.
import torch

from slim_plugins.ops import SlimConv2d, set_width
from slim_plugins.ops.slicing import LeadingSlice, SliceCache


def test_leading_slice_gradient_equals_naive_slicing():
    torch.manual_seed(0)
    full = torch.randn(6, 5, 3, 3, requires_grad=True)
    naive = full.detach().clone().requires_grad_()
    upstream = torch.randn(4, 2, 3, 3)
    out = LeadingSlice.apply(full, (4, 2, 3, 3))
    assert out.is_contiguous()
    assert torch.equal(out, naive[:4, :2])
    (out * upstream).sum().backward()
    (naive[:4, :2] * upstream).sum().backward()
    assert torch.equal(full.grad, naive.grad)


def test_cache_reused_until_tensor_changes():
    cache = SliceCache()
    weight = torch.nn.Parameter(torch.randn(8, 4))
    with torch.no_grad():
        first = cache.get('weight', weight, (4, 2))
        assert cache.get('weight', weight, (4, 2)) is first
        weight.add_(1.0)  # what an optimizer step does
        second = cache.get('weight', weight, (4, 2))
    assert second is not first
    assert torch.equal(second, weight.detach()[:4, :2])


def test_eval_forward_sees_updated_weights():
    conv = SlimConv2d(8, 8, 1, bias=False, channel_rule='int').eval()
    set_width(conv, 0.5)
    x = torch.randn(1, 4, 2, 2)
    with torch.no_grad():
        before = conv(x)
        conv.weight.mul_(2.0)
        assert torch.allclose(conv(x), 2 * before)
