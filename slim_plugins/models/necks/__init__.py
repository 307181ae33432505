# Copyright (c) slim_plugins contributors. All rights reserved.
from .feature_norm_neck import FeatureNormNeck

__all__ = ['FeatureNormNeck']
