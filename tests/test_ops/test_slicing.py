# Copyright (c) slim_plugins contributors. All rights reserved.
import copy

import pytest
import torch

from slim_plugins.ops import (SlimBatchNorm2d, SlimConv2d, SlimLinear,
                              in_place_slice_grads,
                              in_place_slice_grads_enabled, set_width)
from slim_plugins.ops.slicing import (MAX_CACHED_LEAVES, LeadingSlice,
                                      SliceCache)


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


def test_in_place_grads_never_overwrite_a_grad_object_kept_by_the_user():
    """Cached views of the buffer must not hide a user holding it."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    history = []
    for width in [0.5, 0.25, 0.5, 0.25]:
        conv.zero_grad(set_to_none=True)
        twin.zero_grad(set_to_none=True)
        _backward(conv, width, x, upstream, in_place=True)
        _backward(twin, width, x, upstream, in_place=False)
        history.append((conv.weight.grad, twin.weight.grad.clone()))
    for kept, expected in history:
        assert torch.equal(kept, expected)
    assert len({kept.data_ptr() for kept, _ in history}) == len(history)


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


def _loss(conv, width, x, upstream):
    set_width(conv, width)
    out = conv(x[:, :conv.active_channels()[1]])
    return (out * upstream[:, :out.shape[1]]).sum()


@pytest.mark.parametrize('widths', [[0.5, 0.5], [0.5, 0.25], [1.0, 0.5]])
def test_in_place_grads_of_several_forwards_in_one_backward(widths):
    """Two views through one layer, summed, then one backward."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    for already_has_grad in (False, True):
        sum(_loss(conv, w, x, upstream) for w in widths).backward()
        with in_place_slice_grads():
            loss = sum(_loss(twin, w, x, upstream) for w in widths)
        loss.backward()
        assert torch.allclose(conv.weight.grad, twin.weight.grad, atol=1e-6)
        assert already_has_grad or conv.weight.grad is not None


@pytest.mark.filterwarnings('ignore:Using backward\\(\\) with create_graph')
def test_in_place_grads_with_create_graph_are_still_right():
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    for width in [1.0, 0.5, 0.25]:
        _loss(conv, width, x, upstream).backward()
        with in_place_slice_grads():
            loss = _loss(twin, width, x, upstream)
        loss.backward(create_graph=True)
    # Values only: the graph of the sliced part is not built (documented).
    assert torch.allclose(conv.weight.grad, twin.weight.grad.detach(),
                          atol=1e-6)


def test_in_place_grads_go_to_the_grad_of_backward_time_as_autograd():
    """zero_grad between forward and backward: autograd's own semantics."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    for model, in_place in ((conv, False), (twin, True)):
        _loss(model, 1.0, x, upstream).backward()
        with in_place_slice_grads(in_place):
            loss = _loss(model, 0.5, x, upstream)
        model.zero_grad(set_to_none=True)  # between forward and backward
        loss.backward()
    assert torch.equal(conv.weight.grad, twin.weight.grad)
    assert torch.equal(conv.bias.grad, twin.bias.grad)


def test_in_place_leaf_follows_optimizer_steps():
    """The leaf is a copy: refreshed when the parameter changes."""
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    optims = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (conv, twin)]
    for width in [0.5, 0.5, 0.25, 0.5]:
        for model, optim, in_place in ((conv, optims[0], False),
                                       (twin, optims[1], True)):
            optim.zero_grad()
            _backward(model, width, x, upstream, in_place)
            optim.step()
    assert torch.allclose(conv.weight, twin.weight, atol=1e-6)
    with in_place_slice_grads():
        out = twin(x[:, :8])
    set_width(conv, 0.5)
    assert torch.allclose(out, conv(x[:, :8]), atol=1e-6)


def test_in_place_backward_that_misses_the_first_layer_is_an_error():
    """Gradients the flush never saw are not silently dropped."""
    first, second = _conv_pair()
    set_width(first, 0.5)
    set_width(second, 0.5)
    x = torch.randn(2, 8, 5, 5)
    with in_place_slice_grads():
        out_first = first(x)
        out_second = second(x)  # a branch that does not need ``first``
    (out_second.sum() + 0 * out_first.detach().sum()).backward()
    assert second.weight.grad is None  # the flush never ran
    with pytest.raises(RuntimeError, match='did not reach the first sliced'):
        with in_place_slice_grads():
            second(x)


def test_in_place_grads_of_slim_bn_and_linear_equal_autograd():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        SlimConv2d(3, 16, 3, padding=1, slim_in=False, channel_rule='int'),
        SlimBatchNorm2d(16, channel_rule='int'), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        SlimLinear(16, 4, channel_rule='int'))
    twin = copy.deepcopy(model)
    x = torch.randn(4, 3, 6, 6)
    for width in [0.5, 0.25, 1.0, 0.75]:
        for net, in_place in ((model, False), (twin, True)):
            set_width(net, width)
            with in_place_slice_grads(in_place):
                loss = net(x).square().sum()
            loss.backward()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name


def test_in_place_grads_follow_a_parameter_moved_to_new_storage():
    conv, twin = _conv_pair()
    x = torch.randn(2, 16, 5, 5)
    upstream = torch.randn(2, 16, 5, 5)
    _backward(twin, 0.5, x, upstream, in_place=True)
    _backward(twin, 0.25, x, upstream, in_place=True)
    old = twin._slices._leaves['weight'][(4, 4, 3, 3)].leaf
    old_slot = twin._slices._grad_slots['weight']
    twin.double().float()  # new storage for every tensor
    twin.zero_grad(set_to_none=True)
    _backward(twin, 0.5, x, upstream, in_place=True)
    # the leaves of the old storage are gone, not only the one reused, and
    # so is the gradient buffer shaped after it
    assert list(twin._slices._leaves['weight']) == [(8, 8, 3, 3)]
    assert old.data_ptr() != twin.weight.data_ptr()
    assert twin._slices._grad_slots['weight'] is not old_slot
    assert twin.weight.grad is not old_slot.buffer
    _backward(conv, 0.5, x, upstream, in_place=False)
    assert torch.allclose(conv.weight.grad, twin.weight.grad, atol=1e-6)


def test_in_place_leaf_used_every_step_is_kept():
    """Least recently used out: the min width survives random widths."""
    conv = SlimConv2d(128, 128, 1, channel_rule='int')
    x = torch.randn(1, 128, 2, 2)
    upstream = torch.randn(1, 128, 2, 2)
    _backward(conv, 8 / 128, x, upstream, in_place=True)
    smallest = conv._slices._leaves['weight'][(8, 8, 1, 1)]
    for channels in range(16, 128, 8):
        _backward(conv, channels / 128, x, upstream, in_place=True)
        _backward(conv, 8 / 128, x, upstream, in_place=True)
    assert conv._slices._leaves['weight'][(8, 8, 1, 1)] is smallest


def test_in_place_leaves_are_bounded_per_layer():
    conv = SlimConv2d(128, 128, 1, channel_rule='int')
    x = torch.randn(1, 128, 2, 2)
    upstream = torch.randn(1, 128, 2, 2)
    for channels in range(8, 128, 4):
        _backward(conv, channels / 128, x, upstream, in_place=True)
        if channels % 8:
            conv.zero_grad(set_to_none=True)
    assert 0 < len(conv._slices._leaves['weight']) <= MAX_CACHED_LEAVES
    # and the views of the gradient buffer that the flush writes through
    assert 0 < len(
        conv._slices._grad_slots['weight']._blocks) <= MAX_CACHED_LEAVES
