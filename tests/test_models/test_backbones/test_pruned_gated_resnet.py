# Copyright (c) slim_plugins contributors. All rights reserved.
"""PrunedGatedResNet: the gated path without never-used channels."""
import pytest
import torch
from conftest import force_gates

from slim_plugins.models.backbones import GatedResNet, PrunedGatedResNet
from slim_plugins.models.utils import GateUsage, collect_gate_usage
from slim_plugins.ops import using_gate_path


def _trained_gated():
    torch.manual_seed(0)
    model = GatedResNet(
        18, stem='imagenet', in_channels=1, stem_channels=16,
        base_channels=16)
    with torch.no_grad(), using_gate_path(model, 'gated'):
        for _ in range(3):  # some BN statistics, per path
            model.train()(torch.randn(16, 1, 28, 28))
    return model.eval()


def test_equal_to_the_gated_path_on_the_calibration_images():
    model = _trained_gated()
    calib = [torch.randn(8, 1, 28, 28) for _ in range(3)]
    usage = collect_gate_usage(model, calib)
    assert model.training is False
    pruned, kwargs = PrunedGatedResNet.from_gated(model, usage)
    full = [b.mid_channels for b in model.blocks()]
    assert kwargs['mid_channels'] == [
        int((~usage.always_off(i)).sum()) for i in range(8)
    ]
    assert sum(kwargs['mid_channels']) < sum(full)
    with torch.no_grad():
        for x in calib:
            with using_gate_path(model, 'gated'):
                expected = model(x)[0]
                gated_macs = model.gate_stats().macs
            torch.testing.assert_close(pruned(x)[0], expected, atol=1e-5,
                                       rtol=1e-5)
            # never more work than the gated path's count
            assert torch.all(pruned.macs() <= gated_macs + 1e-3)
    # rebuilt from its kwargs and state dict: the same network
    rebuilt = PrunedGatedResNet(
        **{k: v for k, v in kwargs.items() if k != 'type'})
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)
    x = calib[0]
    torch.testing.assert_close(rebuilt.eval()(x)[0], pruned(x)[0])


def test_block_with_every_channel_off():
    # A block no image uses keeps only its shortcut and BN2's constant.
    model = _trained_gated()
    x = torch.randn(4, 1, 28, 28)
    counts = [torch.ones(b.mid_channels, dtype=torch.long) * 4
              for b in model.blocks()]
    counts[1] = torch.zeros_like(counts[1])
    usage = GateUsage(counts, 4)
    pruned, kwargs = PrunedGatedResNet.from_gated(model, usage)
    assert kwargs['mid_channels'][1] == 0
    assert kwargs['gated_index'][0] == []  # always on: no gate
    assert pruned.layer1[0].gate is None
    # the reference: the gated network with block 1's channels all off and
    # every other channel on
    force_gates(model.blocks(), on=[i != 1 for i in range(8)])
    with torch.no_grad(), using_gate_path(model, 'gated'):
        expected = model(x)[0]
    with torch.no_grad():
        torch.testing.assert_close(pruned(x)[0], expected, atol=1e-5,
                                   rtol=1e-5)


def test_bad_input():
    model = _trained_gated()
    with pytest.raises(ValueError, match='usage has 2 blocks'):
        PrunedGatedResNet.from_gated(
            model, GateUsage([torch.zeros(4), torch.zeros(4)], 1))
    with pytest.raises(ValueError, match='has 8 blocks; got 1'):
        PrunedGatedResNet(18, [4], [[]], 'cifar', 1)
    with pytest.raises(ValueError, match='no images'):
        collect_gate_usage(model, [])
