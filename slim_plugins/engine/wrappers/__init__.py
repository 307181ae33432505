# Copyright (c) slim_plugins contributors. All rights reserved.
from .multi_width_ddp import MultiWidthDistributedDataParallel

__all__ = ['MultiWidthDistributedDataParallel']
