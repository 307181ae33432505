# Copyright (c) slim_plugins contributors. All rights reserved.
"""Mask R-CNN on a slim backbone deployed at one width."""
from mmdet.models.detectors import MaskRCNN

from slim_plugins.registry import MODELS
from .neck_channels import AutoNeckChannelsMixin


@MODELS.register_module()
class DeployedMaskRCNN(AutoNeckChannelsMixin, MaskRCNN):
    """`Mask R-CNN <https://arxiv.org/abs/1703.06870>`_ whose neck input
    channels follow the backbone.

    The detection transfer of US3L / SlimCLR at one deployed width: the
    backbone is typically a
    :class:`~slim_plugins.models.backbones.DeployedSlimResNet` (static
    convolutions of that width, so the detector really saves the FLOPs),
    initialised from a file written by
    ``tools/model_converters/ssl_to_mmdet.py``. Everything else is mmdet's
    ``MaskRCNN``; the only difference is that ``neck.in_channels`` may be
    ``'auto'`` (or omitted) and is then derived from the backbone (see
    :class:`AutoNeckChannelsMixin`), so changing the width is a one-key
    change: ``--cfg-options model.backbone.width=0.25``.

    Args:
        backbone (dict): Backbone config.
        rpn_head (dict): RPN head config.
        roi_head (dict): RoI head config.
        train_cfg (dict): Training config of the RPN and the RoI head.
        test_cfg (dict): Testing config of the RPN and the RoI head.
        neck (dict, optional): Neck config; ``in_channels`` may be
            ``'auto'``.
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict | list[dict], optional): Initialisation config.

    Example:
        >>> neck = dict(type='FPN', in_channels='auto', out_channels=256,
        ...             num_outs=5)
        >>> # with backbone=dict(type='slim_plugins.DeployedSlimResNet',
        >>> #                    depth=50, width=0.25)
        >>> # the FPN gets in_channels=[64, 128, 256, 512].
    """
