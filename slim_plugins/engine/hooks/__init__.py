# Copyright (c) slim_plugins contributors. All rights reserved.
from .bn_calibration_hook import BNCalibrationHook
from .checkpoint_loading_hook import CheckpointLoadingHook
from .gate_anneal_hook import GateAnnealHook
from .knn_memory_hook import KNNMemoryHook
from .rng_state_hook import RNGStateHook
from .sync_slim_bn_hook import SyncSlimBNHook
from .width_sampling_hook import WidthSamplingHook

__all__ = [
    'BNCalibrationHook', 'CheckpointLoadingHook', 'GateAnnealHook',
    'KNNMemoryHook', 'RNGStateHook', 'SyncSlimBNHook', 'WidthSamplingHook'
]
