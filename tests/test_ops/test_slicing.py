# Copyright (c) slim_plugins contributors. All rights reserved.
import copy

import pytest
import torch

from slim_plugins.ops import (SlimConv2d, in_place_slice_grads,
                              in_place_slice_grads_enabled, set_width)
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


def _conv_pair(seed: int = 0):
    """Two equal slim convs (and their inputs) for gradient comparisons."""
    torch.manual_seed(seed)
    conv = SlimConv2d(16, 16, 3, padding=1, channel_rule='int')
    twin = copy.deepcopy(conv)
    return conv, twin


def _backward(conv, width, x, upstream, in_place):
    set_width(conv, width)
    with in_place_slice_grads(in_place):
        out = conv(x[:, :conv.active_channels()[1]])
    (out * upstream[:, :out.shape[1]]).sum().backward()


@pytest.mark.parametrize('widths', [[0.5], [1.0, 0.5, 0.25],
                                    [0.25, 0.75, 0.5], [0.5, 0.5]])
def test_in_place_grads_equal_autograd(widths):
    """One accumulation over several widths, as in the accumulate step."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    for width in widths:
        _backward(conv, width, x, upstream, in_place=False)
        _backward(twin, width, x, upstream, in_place=True)
    assert torch.allclose(conv.weight.grad, twin.weight.grad, atol=1e-6)
    assert torch.allclose(conv.bias.grad, twin.bias.grad, atol=1e-6)
    widest = int(16 * max(widths))
    assert twin.weight.grad[widest:].abs().sum() == 0


def test_in_place_grads_reuse_buffer_across_zero_grad():
    """Steps at changing widths: each .grad equals a fresh autograd one."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    buffers = set()
    for width in [1.0, 0.25, 0.5, 0.5, 0.25, 1.0]:
        conv.zero_grad(set_to_none=True)
        twin.zero_grad(set_to_none=True)
        _backward(conv, width, x, upstream, in_place=False)
        _backward(twin, width, x, upstream, in_place=True)
        assert torch.equal(conv.weight.grad, twin.weight.grad)
        if width < 1.0:  # the full width is plain autograd, nothing sliced
            buffers.add(twin.weight.grad.data_ptr())
    assert len(buffers) == 1  # no new full-size gradient per sliced step


def test_in_place_grads_never_overwrite_a_gradient_kept_by_the_user():
    conv, _ = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    _backward(conv, 1.0, x, upstream, in_place=True)
    _backward(conv, 0.5, x, upstream, in_place=True)
    kept = conv.weight.grad
    kept_view = conv.weight.grad[:4]
    snapshot = kept.clone()
    del kept
    conv.zero_grad(set_to_none=True)
    _backward(conv, 0.25, x, upstream, in_place=True)
    assert torch.equal(kept_view, snapshot[:4])
    assert conv.weight.grad.data_ptr() != kept_view.data_ptr()


def test_in_place_grads_after_outside_modification():
    """Clipping/unscaling writes the buffer; stale values must not leak."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    _backward(twin, 0.25, x, upstream, in_place=True)
    twin.weight.grad.add_(1.0)  # nonzero outside the active block
    twin.zero_grad(set_to_none=True)
    _backward(twin, 0.25, x, upstream, in_place=True)
    _backward(conv, 0.25, x, upstream, in_place=False)
    assert torch.equal(conv.weight.grad, twin.weight.grad)
    # and within one accumulation
    twin.weight.grad.mul_(2.0)
    conv.weight.grad.mul_(2.0)
    _backward(twin, 0.5, x, upstream, in_place=True)
    _backward(conv, 0.5, x, upstream, in_place=False)
    twin.zero_grad(set_to_none=True)
    conv.zero_grad(set_to_none=True)
    _backward(twin, 0.25, x, upstream, in_place=True)
    _backward(conv, 0.25, x, upstream, in_place=False)
    assert torch.equal(conv.weight.grad, twin.weight.grad)


def test_in_place_mode_is_scoped_and_off_by_default():
    assert not in_place_slice_grads_enabled()
    with in_place_slice_grads():
        assert in_place_slice_grads_enabled()
        with in_place_slice_grads(False):
            assert not in_place_slice_grads_enabled()
    assert not in_place_slice_grads_enabled()


def test_copies_of_a_layer_do_not_share_gradient_buffers():
    conv, _ = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    _backward(conv, 0.5, x, upstream, in_place=True)
    teacher = copy.deepcopy(conv)
    assert teacher._slices._grad_slots == {}
    assert teacher._slices._entries == {}
