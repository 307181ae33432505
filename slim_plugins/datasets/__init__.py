# Copyright (c) slim_plugins contributors. All rights reserved.
from .cifar20 import CIFAR20, CIFAR20_CATEGORIES
from .tiny_cifar import UncheckedCIFAR10, UncheckedCIFAR100
from .transforms import *  # noqa: F401,F403

__all__ = [
    'CIFAR20', 'CIFAR20_CATEGORIES', 'UncheckedCIFAR10', 'UncheckedCIFAR100'
]
