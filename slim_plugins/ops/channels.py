# Copyright (c) slim_plugins contributors. All rights reserved.
"""Channel rules: how many channels a layer keeps at a given width.

Two rules are in use by the papers we follow:

* ``'divisible8'`` (US-Nets / US3L): round ``C * w`` to a multiple of 8;
* ``'int'`` (SlimCLR): truncate ``C * w`` to an integer.

Every slim op and every backbone channel table goes through
:func:`get_channel_rule`, so a layer and the table describing it can never
disagree.
"""
import math
from typing import Callable, Dict

ChannelRule = Callable[[int, float], int]


def make_divisible_channels(channels: int,
                            width: float,
                            divisor: int = 8) -> int:
    """Active channels of a ``channels``-wide layer at ``width`` (US3L rule).

    Args:
        channels (int): Channels of the layer at full width.
        width (float): Width multiplier in ``(0, 1]``.
        divisor (int): The result is a multiple of it (unless capped by
            ``channels`` or floored at 1). Defaults to 8.

    Returns:
        int: ``c`` with ``1 <= c <= channels``.
    """
    target = channels * width
    # c = max(1, floor((C*w + d/2) / d) * d); c += d if c < 0.9*C*w
    active = max(1, math.floor((target + divisor / 2) / divisor) * divisor)
    if active < 0.9 * target:
        active += divisor
    return min(active, channels)


def int_channels(channels: int, width: float) -> int:
    """Active channels of a ``channels``-wide layer at ``width`` (SlimCLR).

    Args:
        channels (int): Channels of the layer at full width.
        width (float): Width multiplier in ``(0, 1]``.

    Returns:
        int: ``max(1, int(C * w))``, capped at ``channels``.
    """
    # c = int(C*w); the epsilon only absorbs float noise such as
    # 100 * 0.29 == 28.999999999999996.
    return min(channels, max(1, int(channels * width + 1e-9)))


CHANNEL_RULES: Dict[str, ChannelRule] = {
    'divisible8': make_divisible_channels,
    'int': int_channels,
}


def get_channel_rule(name: str) -> ChannelRule:
    """Look up a channel rule by name.

    Args:
        name (str): One of ``'divisible8'`` (US3L) or ``'int'`` (SlimCLR).

    Returns:
        Callable[[int, float], int]: ``rule(channels, width)``.
    """
    if name not in CHANNEL_RULES:
        raise ValueError(f'channel_rule={name!r} is not supported; allowed: '
                         f'{sorted(CHANNEL_RULES)} (set `channel_rule` in '
                         'the backbone/op config).')
    return CHANNEL_RULES[name]
