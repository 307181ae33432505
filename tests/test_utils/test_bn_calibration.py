# Copyright (c) slim_plugins contributors. All rights reserved.
"""BN calibration against statistics captured by forward hooks."""
from typing import Dict, List

import pytest
import torch

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.ops import using_width
from slim_plugins.utils.bn_calibration import (CalibratedBNStats,
                                               apply_calibrated_stats,
                                               calibrate_bn, get_bank,
                                               needs_calibration,
                                               preserved_bn_buffers)

BN_NAMES = ('bn1', 'layer1.0.bn2', 'layer4.1.bn2')


def _net(**kwargs) -> SlimResNet:
    torch.manual_seed(0)
    return SlimResNet(
        depth=18, stem='cifar', base_channels=8, stem_channels=8, **kwargs)


def _batches(num: int) -> List[torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    return [torch.randn(2, 3, 16, 16, generator=gen) for _ in range(num)]


def _buffers(net) -> Dict[str, torch.Tensor]:
    return {
        k: v.clone()
        for k, v in net.state_dict().items() if 'bn_calibration' not in k
    }


def _expected_stats(net, batches, width) -> Dict[str, Dict[str, list]]:
    """Per-batch channel means / unbiased variances of each BN's input."""
    captured = {name: dict(mean=[], var=[]) for name in BN_NAMES}
    handles = []
    for name in BN_NAMES:

        def hook(module, args, _name=name):
            x = args[0]
            captured[_name]['mean'].append(x.mean(dim=(0, 2, 3)))
            captured[_name]['var'].append(x.var(dim=(0, 2, 3),
                                                unbiased=True))

        handles.append(net.get_submodule(name).register_forward_pre_hook(
            hook))
    with using_width(net, width), preserved_bn_buffers(net), \
            torch.no_grad():
        net.train()
        for x in batches:
            net(x)
    for handle in handles:
        handle.remove()
    return captured


def test_cumulative_calibration_is_the_batch_average():
    net = _net()
    batches = _batches(3)
    expected = {w: _expected_stats(net, batches, w) for w in (1.0, 0.5)}
    # Mixed modes and a custom momentum must survive calibration.
    net.eval()
    net.layer1.train()
    net.bn1.momentum = 0.3
    modes = {n: m.training for n, m in net.named_modules()}
    before = _buffers(net)

    results = calibrate_bn(net, batches, net, [1.0, 0.5], num_batches=3)

    for width in (1.0, 0.5):
        for name in BN_NAMES:
            stats = results[width][name]
            mean = torch.stack(expected[width][name]['mean']).mean(0)
            var = torch.stack(expected[width][name]['var']).mean(0)
            assert stats['running_mean'].shape == mean.shape
            torch.testing.assert_close(
                stats['running_mean'], mean, atol=1e-5, rtol=0)
            torch.testing.assert_close(
                stats['running_var'], var, atol=1e-5, rtol=0)
    # The sliced BN of width 0.5 holds fewer channels than width 1.
    assert results[0.5]['layer4.1.bn2']['running_mean'].numel() < \
        results[1.0]['layer4.1.bn2']['running_mean'].numel()
    assert {n: m.training for n, m in net.named_modules()} == modes
    assert net.bn1.momentum == 0.3 and net.layer1[0].bn1.momentum == 0.1
    after = _buffers(net)
    assert after.keys() == before.keys()
    for key in before:
        assert torch.equal(after[key], before[key]), key
    assert get_bank(net).has(1.0) and get_bank(net).has(0.5)

    # apply_calibrated_stats puts exactly the calibrated stats in the BNs.
    apply_calibrated_stats(net, 0.5)
    bn = net.get_submodule('layer4.1.bn2')
    want = results[0.5]['layer4.1.bn2']
    c = want['running_mean'].numel()
    torch.testing.assert_close(bn.running_mean[:c], want['running_mean'])
    torch.testing.assert_close(bn.running_var[:c], want['running_var'])


def test_cumulative_calibration_ignores_earlier_training_steps():
    """A trained network has counted batches already: the cumulative
    average must start afresh, not weigh the first calibration batch by
    1 / (batches seen in training + 1)."""
    net = _net()
    batches = _batches(3)
    expected = _expected_stats(net, batches, 0.5)
    net.train()
    with torch.no_grad():
        for x in _batches(4):  # training forwards: statistics and counts
            net(x)
    assert int(net.get_submodule('layer4.1.bn2').num_batches_tracked) == 4

    stats = calibrate_bn(net, batches, net, [0.5], num_batches=3)[0.5]
    for name in BN_NAMES:
        mean = torch.stack(expected[name]['mean']).mean(0)
        var = torch.stack(expected[name]['var']).mean(0)
        torch.testing.assert_close(
            stats[name]['running_mean'], mean, atol=1e-5, rtol=0)
        torch.testing.assert_close(
            stats[name]['running_var'], var, atol=1e-5, rtol=0)
    # The network's own counters are left as training left them.
    assert int(net.get_submodule('layer4.1.bn2').num_batches_tracked) == 4


def test_bank_survives_state_dict_round_trip():
    net = _net()
    calibrate_bn(net, _batches(2), net, [1.0, 0.5], num_batches=2)
    state = net.state_dict()
    assert any(k.startswith('bn_calibration.w0_5__') for k in state)

    fresh = _net()
    fresh.load_state_dict(state, strict=True)
    bank = get_bank(fresh)
    assert isinstance(bank, CalibratedBNStats)
    assert bank.widths() == ['w0_5', 'w1']
    apply_calibrated_stats(fresh, 0.5)
    apply_calibrated_stats(net, 0.5)
    for a, b in zip(fresh.buffers(), net.buffers()):
        assert torch.equal(a, b)
    # The calibrated stats are used in eval mode: same outputs.
    fresh.eval()
    net.eval()
    x = _batches(1)[0]
    with using_width(fresh, 0.5), using_width(net, 0.5):
        torch.testing.assert_close(fresh(x), net(x))


def test_errors():
    net = _net()
    with pytest.raises(ValueError, match='num_batches=0'):
        calibrate_bn(net, _batches(2), net, [1.0], num_batches=0)
    with pytest.raises(ValueError, match='only 2'):
        calibrate_bn(net, _batches(2), net, [1.0], num_batches=3)
    with pytest.raises(ValueError, match='mode'):
        calibrate_bn(net, _batches(2), net, [1.0], 1, mode='median')
    with pytest.raises(ValueError, match='no calibrated BN statistics'):
        apply_calibrated_stats(net, 0.5)
    calibrate_bn(net, _batches(1), net, [1.0], num_batches=1)
    with pytest.raises(ValueError, match='calibrated: '):
        apply_calibrated_stats(net, 0.5)


def test_ema_mode_keeps_running_average_without_reset():
    net = _net()
    x = _batches(1)[0]
    results = calibrate_bn(net, [x], net, [1.0], 1, mode='ema',
                           ema_momentum=0.5)
    # One EMA step from the initial (0, 1): 0.5 * batch mean.
    expected = _expected_stats(net, [x], 1.0)['bn1']
    torch.testing.assert_close(results[1.0]['bn1']['running_mean'],
                               0.5 * expected['mean'][0], atol=1e-5,
                               rtol=0)


def test_needs_calibration():
    assert needs_calibration(_net())
    assert not needs_calibration(_net(track_running_stats=False))
    assert not needs_calibration(_net(width_mode='switchable'))


def test_frozen_backbone_is_still_calibrated():
    """norm_eval / frozen stages must not keep BNs in eval mode during
    calibration (SlimResNet.train() would put them back)."""
    frozen = _net(frozen_stages=4, norm_eval=True)
    reference = _net()
    batches = [x + 3. for x in _batches(2)]
    got = calibrate_bn(frozen, batches, frozen, [0.5], num_batches=2)
    want = calibrate_bn(reference, batches, reference, [0.5],
                        num_batches=2)
    stem = got[0.5]['bn1']['running_mean']
    assert stem.abs().max() > 0.1  # not the untouched zeros
    torch.testing.assert_close(stem, want[0.5]['bn1']['running_mean'])
    assert not frozen.bn1.training
