# Copyright (c) slim_plugins contributors. All rights reserved.
"""mmpretrain's ResNet with a 3x3 stride-1 stem conv and the max-pool."""
from mmcv.cnn import build_conv_layer
from mmpretrain.models import ResNet

from slim_plugins.registry import MODELS


@MODELS.register_module()
class SmallKernelResNet(ResNet):
    """ResNet whose stem conv is 3x3 with stride 1 (MV-MR's ``small_kernel``).

    MV-MR's STL-10 and CIFAR-20 encoders replace the 7x7 stride-2 stem conv
    by a 3x3 stride-1 one but, unlike ``ResNet_CIFAR``, keep the 3x3
    stride-2 max-pool, so the feature maps are half the input size after the
    stem. Everything else (keys included) is mmpretrain's ``ResNet``; only
    the shape of ``conv1.weight`` differs.

    Args:
        **kwargs: Arguments of mmpretrain's ``ResNet`` (``deep_stem`` must
            stay False).
    """

    def __init__(self, **kwargs) -> None:
        if kwargs.get('deep_stem', False):
            raise ValueError('SmallKernelResNet replaces the single stem '
                             'conv; deep_stem=True contradicts it.')
        super().__init__(**kwargs)
        self.conv1 = build_conv_layer(
            self.conv_cfg,
            kwargs.get('in_channels', 3),
            self.stem_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False)
        # ResNet froze the replaced conv; freeze the new one the same way.
        self._freeze_stages()
