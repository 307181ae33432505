# Copyright (c) slim_plugins contributors. All rights reserved.
import pytest
import torch.nn as nn

from slim_plugins.ops import (SlimConv2d, SlimLinear, SwitchableBatchNorm2d,
                              WidthState, get_width, set_width,
                              share_width_state, using_width)


def make_tree():
    return nn.Sequential(
        SlimConv2d(3, 16, 3, slim_in=False), nn.ReLU(),
        nn.Sequential(SlimLinear(16, 4)))


def test_set_get_width_on_any_tree():
    tree = make_tree()
    assert get_width(tree) == 1.0
    assert set_width(tree, 0.5) == 0.5
    assert get_width(tree) == 0.5
    assert tree[0].active_channels() == (8, 3)
    assert tree[2][0].active_features() == (4, 8)


def test_using_width_restores_on_exit_and_on_error():
    tree = make_tree()
    share_width_state(tree)
    set_width(tree, 0.75)
    with using_width(tree, 0.25):
        assert get_width(tree) == 0.25
    assert get_width(tree) == 0.75
    with pytest.raises(RuntimeError):
        with using_width(tree, 0.5):
            raise RuntimeError('boom')
    assert get_width(tree) == 0.75


def test_shared_state_is_one_object():
    tree = make_tree()
    state = share_width_state(tree, WidthState(width_range=(0.5, 1.0)))
    assert tree[0].width_state is state is tree[2][0].width_state
    with pytest.raises(ValueError, match=r'outside width_range \(0.5, 1.0\)'):
        set_width(tree, 0.25)
    assert get_width(tree) == 1.0


@pytest.mark.parametrize('width', [0, -0.5, 1.5])
def test_bad_widths(width):
    with pytest.raises(ValueError, match=r'\(0, 1\]'):
        set_width(make_tree(), width)


def test_rejected_width_changes_nothing():
    # The switchable BN rejects 0.3; the conv must not have moved either.
    tree = nn.Sequential(
        SlimConv2d(3, 16, 3), SwitchableBatchNorm2d(16, widths=[1.0, 0.5]))
    with pytest.raises(ValueError, match=r'widths=\[1.0, 0.5\]'):
        set_width(tree, 0.3)
    assert tree[0].width_state.width == 1.0


def test_tree_without_slim_ops():
    with pytest.raises(ValueError, match='holds no slim ops'):
        set_width(nn.Linear(2, 2), 0.5)
    with pytest.raises(TypeError):
        set_width(make_tree(), '0.5')


def test_inconsistent_widths_are_reported():
    a, b = SlimLinear(8, 2), SlimLinear(8, 2)
    set_width(a, 0.5)
    with pytest.raises(ValueError, match='different widths'):
        get_width(nn.Sequential(a, b))
