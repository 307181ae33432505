# Copyright (c) slim_plugins contributors. All rights reserved.
import torch
from mmengine.analysis import FlopAnalyzer

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.utils import export_subnet, width_complexity
from slim_plugins.utils import count_macs

WIDTHS = (1.0, 0.75, 0.5, 0.25)


def test_cifar_resnet18_matches_spec():
    # Spec (hand-derived, convs only): 555 / 313 / 139 / 35 M
    rows = width_complexity(SlimResNet(18), WIDTHS, (3, 32, 32))
    assert [round(r.macs / 1e6) for r in rows] == [555, 313, 139, 35]
    assert [r.width for r in rows] == list(WIDTHS)
    assert rows[0].params == 11168832  # ResNet_CIFAR-18 without fc


def test_resnet50_224_matches_spec():
    # Spec: 4.09 / 2.32 / 1.05 / 0.28 G MACs; 25.56 / 14.77 / 6.92 / 1.99 M
    # params with a 1000-way fc (SlimCLR table, BN included)
    rows = width_complexity(
        SlimResNet(50, stem='imagenet'), WIDTHS, num_classes=1000)
    assert [round(r.macs / 1e9, 2) for r in rows] == [4.09, 2.32, 1.05, 0.28]
    assert [round(r.params / 1e6, 2)
            for r in rows] == [25.56, 14.77, 6.92, 1.99]


def test_other_spec_rows():
    rows = width_complexity(SlimResNet(50), WIDTHS, (3, 32, 32))
    assert [round(r.macs / 1e6) for r in rows] == [1298, 730, 325, 81]
    rows = width_complexity(SlimResNet(18, stem='imagenet'), WIDTHS)
    assert [round(r.macs / 1e9, 2) for r in rows[:3]] == [1.81, 1.04, 0.48]
    assert round(rows[3].macs / 1e9, 3) == 0.135


def test_padding_two_stem():
    # Unification's stem (padding 2): 34x34 stages, 7.03E8 MACs
    rows = width_complexity(SlimResNet(18, stem_padding=2), [1.0],
                            (3, 32, 32))
    assert rows[0].macs // 10**6 == 703


def test_backbone_without_running_stats():
    # Batch statistics only (US3L's shared BN): the count must not depend on
    # BN seeing more than one value (the 28x28 ImageNet stem ends at 1x1).
    backbone = SlimResNet(
        18, stem='imagenet', in_channels=1, track_running_stats=False)
    tracked = SlimResNet(18, stem='imagenet', in_channels=1)
    rows = width_complexity(backbone, [1.0, 0.25], (1, 28, 28))
    assert rows == width_complexity(tracked, [1.0, 0.25], (1, 28, 28))


def test_counter_agrees_with_mmengine_on_exported_net():
    torch.manual_seed(0)
    net = SlimResNet(
        18, base_channels=16, stem_channels=16, track_running_stats=False)
    narrow = export_subnet(net, 0.3).eval()
    x = torch.randn(1, 3, 16, 16)
    by_op = FlopAnalyzer(narrow, (x, )).by_operator()
    assert count_macs(narrow, x) == by_op['conv']
    ours = width_complexity(net, [0.3], (3, 16, 16))[0]
    assert ours.macs == by_op['conv']
    assert ours.params == sum(p.numel() for p in narrow.parameters())
