# Copyright (c) slim_plugins contributors. All rights reserved.
"""Width samplers: where the widths of a training step are *chosen*.

Every sampler is registered in ``WIDTH_SAMPLERS`` and can be used without a
runner::

    sampler = WIDTH_SAMPLERS.build(dict(type='SandwichSampler'))
    widths = sampler.sample(epoch, max_epochs)   # sorted high to low
"""
from .all_widths import AllWidthsSampler
from .base import BaseWidthSampler
from .loss_weights import width_loss_weights
from .sandwich import RandomSampler, SandwichSampler
from .slow_start import SlowStartSampler
from .us3l_schedule import US3LScheduleSampler

__all__ = [
    'BaseWidthSampler', 'AllWidthsSampler', 'SandwichSampler', 'RandomSampler',
    'US3LScheduleSampler', 'SlowStartSampler', 'width_loss_weights'
]
