# Copyright (c) slim_plugins contributors. All rights reserved.
from .bn_calibration_hook import BNCalibrationHook
from .width_sampling_hook import WidthSamplingHook

__all__ = ['BNCalibrationHook', 'WidthSamplingHook']
