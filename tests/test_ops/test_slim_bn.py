# Copyright (c) slim_plugins contributors. All rights reserved.
import copy

import pytest
import torch
import torch.nn as nn

from slim_plugins.ops import (SlimBatchNorm1d, SlimBatchNorm2d,
                              SwitchableBatchNorm1d, SwitchableBatchNorm2d,
                              set_width, using_width)


def test_shared_bn_updates_leading_slice_of_shared_stats():
    torch.manual_seed(0)
    bn = SlimBatchNorm2d(16)
    assert isinstance(bn, nn.BatchNorm2d)
    ref = nn.BatchNorm2d(8)
    set_width(bn, 0.5)
    x = torch.randn(4, 8, 3, 3) * 3 + 1
    assert torch.allclose(bn(x), ref(x), atol=1e-6)
    assert torch.allclose(bn.running_mean[:8], ref.running_mean)
    assert torch.equal(bn.running_mean[8:], torch.zeros(8))
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    ref.eval()
    assert torch.allclose(bn(x), ref(x), atol=1e-6)


def test_shared_bn_statistics_follow_copies_and_replaced_buffers():
    torch.manual_seed(0)
    bn = SlimBatchNorm2d(16, momentum=0.5)
    set_width(bn, 0.5)
    x = torch.randn(4, 8, 3, 3) * 3 + 1
    batch_mean = x.mean((0, 2, 3))
    bn(x)  # the views of the active statistics are built here
    before = bn.running_mean.clone()
    twin = copy.deepcopy(bn)
    twin(x)
    # the copy updated its own statistics, not the original's
    assert torch.equal(bn.running_mean, before)
    assert torch.allclose(twin.running_mean[:8], 0.75 * batch_mean)
    bn.double()  # new buffers
    bn(x.double())
    assert bn.running_mean.dtype == torch.float64
    assert torch.allclose(bn.running_mean[:8].float(), 0.75 * batch_mean)
    bn.running_mean.data = torch.zeros(16, dtype=torch.float64)
    bn(x.double())
    assert torch.allclose(bn.running_mean[:8].float(), 0.5 * batch_mean)
    assert torch.equal(bn.running_mean[8:], torch.zeros(8).double())
    # load_state_dict copies in place: eval mode normalises with the loaded
    ref = nn.BatchNorm2d(8).double().eval()
    ref.running_mean.uniform_()
    ref.running_var.uniform_(0.5, 2)
    state = bn.state_dict()
    state['running_mean'][:8] = ref.running_mean
    state['running_var'][:8] = ref.running_var
    bn.load_state_dict(state)
    bn.eval()
    assert torch.allclose(bn(x.double()), ref(x.double()), atol=1e-6)


@pytest.mark.parametrize('dims', [1, 2])
@pytest.mark.parametrize('options', [
    dict(), dict(momentum=None), dict(affine=False),
    dict(track_running_stats=False), dict(momentum=None, affine=False)
])
def test_sliced_bn_is_torch_bn_of_that_width(dims, options):
    """The sliced forward calls the op itself; it must keep every rule of
    torch's BN: momentum None (cumulative average), no affine, untracked
    statistics, train and eval, and its errors."""
    torch.manual_seed(0)
    slim_cls, torch_cls = ((SlimBatchNorm1d, nn.BatchNorm1d) if dims == 1
                           else (SlimBatchNorm2d, nn.BatchNorm2d))
    bn = slim_cls(16, channel_rule='int', **options)
    ref = torch_cls(8, **options)
    if bn.affine:
        with torch.no_grad():
            bn.weight.uniform_(0.5, 2)
            bn.bias.uniform_()
            ref.weight.copy_(bn.weight[:8])
            ref.bias.copy_(bn.bias[:8])
    set_width(bn, 0.5)
    shape = (4, 8) if dims == 1 else (4, 8, 3, 3)
    for mode in ('train', 'train', 'train', 'eval', 'train', 'eval'):
        bn.train(mode == 'train')
        ref.train(mode == 'train')
        x = torch.randn(*shape) * 3 + 1
        assert torch.allclose(bn(x), ref(x), atol=1e-5), mode
        for name, value in ref.state_dict().items():
            ours = bn.state_dict()[name]
            ours = ours if ours.dim() == 0 else ours[:8]
            assert torch.allclose(ours.to(value.dtype), value), name
    bn.train()
    one = torch.randn(1, 8) if dims == 1 else torch.randn(1, 8, 1, 1)
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        bn(one)
    with pytest.raises(ValueError, match='expected (2D or 3D|4D) input'):
        bn(torch.randn(2, 8, 3, 3, 3))


def test_untracked_bn_uses_batch_stats_in_eval():
    bn = SlimBatchNorm1d(16, track_running_stats=False).eval()
    set_width(bn, 0.5)
    x = torch.randn(6, 8) * 5
    out = bn(x)
    assert torch.allclose(out.mean(0), torch.zeros(8), atol=1e-5)
    assert 'running_mean' not in bn.state_dict()


def test_switchable_bn_keeps_separate_stats_per_width():
    bn = SwitchableBatchNorm2d(16, widths=[1.0, 0.5, 0.25])
    keys = set(bn.state_dict())
    assert {'weight', 'running_mean', 'switch_bns.0_5.running_mean',
            'switch_bns.0_25.weight'} <= keys
    assert bn.switch_bns['0_5'].num_features == 8
    with using_width(bn, 0.5):
        bn(torch.randn(4, 8, 2, 2) + 5)
    assert torch.equal(bn.running_mean, torch.zeros(16))
    assert bn.switch_bns['0_25'].num_batches_tracked.item() == 0
    assert bn.switch_bns['0_5'].running_mean.mean() > 0.3
    bn(torch.randn(4, 16, 2, 2) - 5)
    assert bn.running_mean.mean() < -0.3
    assert bn.switch_bns['0_5'].running_mean.mean() > 0.3


def test_switchable_loads_plain_bn_state_strictly():
    bn = SwitchableBatchNorm1d(8, widths=[1.0, 0.5], channel_rule='int')
    plain = nn.BatchNorm1d(8)
    plain.running_mean.fill_(2.0)
    bn.load_state_dict(plain.state_dict(), strict=True)
    assert torch.equal(bn.running_mean, plain.running_mean)
    assert torch.equal(bn.switch_bns['0_5'].running_mean, torch.zeros(4))


def test_switchable_largest_width_below_one_is_sliced():
    bn = SwitchableBatchNorm2d(16, widths=[0.5, 0.25])
    set_width(bn, 0.5)
    assert bn(torch.randn(2, 8, 2, 2)).shape == (2, 8, 2, 2)
    assert bn.export_state()['weight'].shape == (8, )
