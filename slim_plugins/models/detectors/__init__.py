# Copyright (c) slim_plugins contributors. All rights reserved.
"""mmdet detectors on slim backbones (needs mmdet with mmcv's compiled ops).
"""
from .complexity import DetectorComplexity, detector_complexity
from .deployed_mask_rcnn import DeployedMaskRCNN
from .neck_channels import (AutoNeckChannelsMixin, backbone_cfg_out_channels,
                            backbone_out_channels, resolve_neck_in_channels)
from .slimmable_mask_rcnn import SlimmableMaskRCNN, zero_pad_channels

__all__ = [
    'AutoNeckChannelsMixin', 'DeployedMaskRCNN', 'DetectorComplexity',
    'SlimmableMaskRCNN', 'backbone_cfg_out_channels', 'backbone_out_channels',
    'detector_complexity', 'resolve_neck_in_channels', 'zero_pad_channels'
]
