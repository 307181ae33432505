# Copyright (c) slim_plugins contributors. All rights reserved.
from .multi_width_loops import MultiWidthTestLoop, MultiWidthValLoop

__all__ = ['MultiWidthValLoop', 'MultiWidthTestLoop']
