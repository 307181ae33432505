# Copyright (c) slim_plugins contributors. All rights reserved.
from .multi_width_classifier import MultiWidthImageClassifier

__all__ = ['MultiWidthImageClassifier']
