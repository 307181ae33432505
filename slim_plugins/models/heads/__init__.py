# Copyright (c) slim_plugins contributors. All rights reserved.
from .switchable_linear_head import SwitchableLinearClsHead

__all__ = ['SwitchableLinearClsHead']
