# Copyright (c) slim_plugins contributors. All rights reserved.
"""How a width is spelt in log keys, metric names and tensor names."""


def width_suffix(width: float) -> str:
    """Suffix of per-width log and metric keys: ``0.25 -> 'w0.25'``.

    Used as ``loss@w0.25`` or ``accuracy/top1@w0.25``.
    """
    return f'w{width:g}'


def width_tag(width: float) -> str:
    """Width as a name without dots (buffers, files): ``0.25 -> 'w0_25'``."""
    return width_suffix(width).replace('.', '_')
