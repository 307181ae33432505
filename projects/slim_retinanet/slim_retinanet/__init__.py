# Copyright (c) slim_plugins contributors. All rights reserved.
from .auto_neck_retinanet import AutoNeckRetinaNet

__all__ = ['AutoNeckRetinaNet']
