# Copyright (c) slim_plugins contributors. All rights reserved.
import math

import pytest

from slim_plugins.ops import (get_channel_rule, int_channels,
                              make_divisible_channels)


def naive_us_rule(channels, width):
    """US3L's make_divisible written out as in the spec."""
    value = channels * width
    c = max(1, math.floor((value + 4) / 8) * 8)
    if c < 0.9 * value:
        c += 8
    return min(c, channels)


@pytest.mark.parametrize('width,expected', [
    (1.0, (64, 128, 256, 512, 2048)),
    (0.75, (48, 96, 192, 384, 1536)),
    (0.5, (32, 64, 128, 256, 1024)),
    (0.25, (16, 32, 64, 128, 512)),
    (0.3, (24, 40, 80, 152, 616)),
])
def test_us_rule_matches_spec_table(width, expected):
    got = tuple(
        make_divisible_channels(c, width) for c in (64, 128, 256, 512, 2048))
    assert got == expected


def test_us_rule_against_naive_and_bounds():
    for channels in (3, 8, 24, 64, 100, 2048):
        for i in range(1, 101):
            width = i / 100
            c = make_divisible_channels(channels, width)
            assert c == naive_us_rule(channels, width)
            assert 1 <= c <= channels


def test_int_rule():
    assert int_channels(64, 0.75) == 48
    assert int_channels(2048, 0.3) == 614
    assert int_channels(64, 0.001) == 1
    # floor(C * w) without float noise (100 * 0.29 == 28.999...)
    assert int_channels(100, 0.29) == 29
    assert get_channel_rule('int') is int_channels


def test_unknown_rule():
    with pytest.raises(ValueError, match="'divisible8', 'int'"):
        get_channel_rule('round')
