# Copyright (c) slim_plugins contributors. All rights reserved.
"""Parameter schedulers (registered in ``PARAM_SCHEDULERS``)."""
from .slow_start_lr import SlowStartCosineLR

__all__ = ['SlowStartCosineLR']
