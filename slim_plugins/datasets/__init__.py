# Copyright (c) slim_plugins contributors. All rights reserved.
from .tiny_cifar import UncheckedCIFAR10, UncheckedCIFAR100
from .transforms import *  # noqa: F401,F403

__all__ = ['UncheckedCIFAR10', 'UncheckedCIFAR100']
