# Copyright (c) slim_plugins contributors. All rights reserved.
from .multi_width_loops import MultiWidthTestLoop, MultiWidthValLoop
from .resumable_loop import ResumableEpochBasedTrainLoop

__all__ = [
    'MultiWidthValLoop', 'MultiWidthTestLoop', 'ResumableEpochBasedTrainLoop'
]
