# Copyright (c) slim_plugins contributors. All rights reserved.
from .feature_norm_neck import FeatureNormNeck
from .slim_mlp_neck import FullSwitchableBatchNorm1d, SlimMLPNeck

__all__ = ['FeatureNormNeck', 'FullSwitchableBatchNorm1d', 'SlimMLPNeck']
