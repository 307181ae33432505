# Copyright (c) slim_plugins contributors. All rights reserved.
"""RetinaNet whose FPN input channels follow a slim backbone's width.

This project lives in mmdet's world: the detector is registered in mmdet's
own registry (bare name ``AutoNeckRetinaNet`` under ``default_scope =
'mmdet'``), and it reuses one building block of slim_plugins,
:class:`~slim_plugins.models.detectors.AutoNeckChannelsMixin`. The backbone
is named by its scoped type ``slim_plugins.DeployedSlimResNet`` in the
config.
"""
from mmdet.models.detectors import RetinaNet
from mmdet.registry import MODELS

from slim_plugins.models.detectors import AutoNeckChannelsMixin


@MODELS.register_module()
class AutoNeckRetinaNet(AutoNeckChannelsMixin, RetinaNet):
    """`RetinaNet <https://arxiv.org/abs/1708.02002>`_ with
    ``neck.in_channels='auto'``.

    Identical to mmdet's ``RetinaNet``; the neck's ``in_channels`` may be
    ``'auto'`` (or omitted) and are then read from the backbone, e.g. a
    ``slim_plugins.DeployedSlimResNet`` of any width.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config; ``in_channels`` may be ``'auto'``.
        bbox_head (dict): Dense head config.
        train_cfg (dict, optional): Training config of the head.
        test_cfg (dict, optional): Testing config of the head.
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """
