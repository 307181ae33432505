# Copyright (c) slim_plugins contributors. All rights reserved.
"""Sub-network export: a slim backbone at one width -> a plain static network.

:func:`export_subnet` turns a :class:`SlimResNet` into a
:class:`NarrowResNet` holding physically sliced copies of the weights and BN
statistics (for switchable BN: the BN of that width; for shared BN: the
calibrated statistics of that width), loaded strictly.
"""
from typing import Any, Dict, Optional

import torch
import torch.nn as nn

from slim_plugins.models.backbones import NarrowResNet, SlimResNet
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               needs_calibration,
                                               preserved_bn_buffers)
from slim_plugins.utils.export import subnet_state_dict


def find_slim_resnet(model: nn.Module) -> SlimResNet:
    """Return ``model`` if it is a SlimResNet, else ``model.backbone``.

    Args:
        model (nn.Module): A SlimResNet or a model (classifier, SSL
            algorithm) whose ``backbone`` is one.

    Returns:
        SlimResNet: The backbone.
    """
    if isinstance(model, SlimResNet):
        return model
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, SlimResNet):
        return backbone
    raise TypeError(f'expected a SlimResNet or a model whose `backbone` is '
                    f'one, got {type(model).__name__} (backbone: '
                    f'{type(backbone).__name__}).')


def export_subnet(model: nn.Module,
                  width: float,
                  running_stats: bool = False) -> NarrowResNet:
    """Export a SlimResNet (or a model's SlimResNet backbone) at ``width``.

    Args:
        model (nn.Module): A SlimResNet or a model whose ``backbone`` is one.
        width (float): A width the backbone accepts.
        running_stats (bool): Export a shared-BN backbone's running
            statistics as they are (a mixture of the widths trained) instead
            of the width's calibrated ones; for timing and shape work where
            statistics do not matter. Defaults to False.

    Returns:
        NarrowResNet: A static network whose outputs equal the slim
        backbone's at ``width`` (same train/eval mode; for a shared-BN
        backbone, with the calibrated statistics of ``width``); its tensors
        are sliced copies, independent of the source.

    Raises:
        ValueError: If the backbone shares BN across widths and ``width``
            was never calibrated (its running statistics would be a mixture
            of all widths).

    Example:
        >>> narrow = export_subnet(SlimResNet(depth=18), 0.5)
        >>> narrow.channels.out
        (32, 64, 128, 256)
    """
    backbone = find_slim_resnet(model)
    narrow = NarrowResNet(**backbone.narrow_kwargs(width))
    with preserved_bn_buffers(backbone):
        if needs_calibration(backbone) and not running_stats:
            # Shared BN: the running statistics mix every width trained;
            # the width's own come from the calibration bank.
            apply_calibrated_stats(backbone, width)
        state = subnet_state_dict(backbone, width)
    narrow.load_state_dict(state, strict=True)
    narrow.train(backbone.training)
    return narrow


def mmpretrain_config(model: nn.Module,
                      width: float) -> Optional[Dict[str, Any]]:
    """mmpretrain ``ResNet``/``ResNet_CIFAR`` config equal to ``width``.

    E.g. a US-rule ResNet at 0.5 is ``ResNet(base_channels=32,
    stem_channels=32)``; at 0.3 (stages 24/40/80/152) it is not expressible.

    Args:
        model (nn.Module): A SlimResNet or a model whose ``backbone`` is one.
        width (float): A width the backbone accepts.

    Returns:
        dict | None: The backbone config, or None if not expressible.
    """
    backbone = find_slim_resnet(model)
    kwargs = backbone.narrow_kwargs(width)
    with torch.device('meta'):
        narrow = NarrowResNet(**kwargs)
    return narrow.mmpretrain_config()
