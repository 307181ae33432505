# Copyright (c) slim_plugins contributors. All rights reserved.
from .multi_width_step import STEP_MODES, MultiWidthTrainMixin

__all__ = ['MultiWidthTrainMixin', 'STEP_MODES']
