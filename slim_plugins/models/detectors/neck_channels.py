# Copyright (c) slim_plugins contributors. All rights reserved.
"""Neck input channels derived from the backbone, never listed by hand.

An FPN fixes its lateral convolutions at build time from ``in_channels``,
which must equal the channels of the backbone's returned stages. For a slim
backbone those depend on the width (ResNet-50 at 0.25: 64/128/256/512), so a
hand-written list is one more place to forget when the width changes (e.g.
``--cfg-options model.backbone.width=0.25``). :class:`AutoNeckChannelsMixin`
builds the backbone config once on the ``meta`` device (shapes only, no
memory, no compute), reads its output channels and fills the neck's
``in_channels``.
"""
import copy
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmdet.registry import MODELS as MMDET_MODELS

from slim_plugins.models.backbones.resnet_base import ResNetBase

AUTO = 'auto'
PROBE_SIZE = 224


def backbone_out_channels(backbone: nn.Module) -> Tuple[int, ...]:
    """Channels of each feature map ``backbone`` returns.

    A :class:`ResNetBase` (``SlimResNet``: full width, ``NarrowResNet``,
    ``DeployedSlimResNet``) answers from its channel table; any other
    backbone is copied to the ``meta`` device and run once on a
    ``PROBE_SIZE`` x ``PROBE_SIZE`` input (shapes only; ``backbone`` itself
    is left untouched).

    Args:
        backbone (nn.Module): A built backbone (on any device, meta too).

    Returns:
        tuple[int]: One entry per returned feature map.
    """
    if isinstance(backbone, ResNetBase):
        return tuple(backbone.channels.out[i] for i in backbone.out_indices)
    in_channels = getattr(backbone, 'in_channels', 3)
    if not isinstance(in_channels, int):
        in_channels = 3
    try:
        # A copy: moving the module itself to meta would drop its weights.
        probe = copy.deepcopy(backbone).to('meta')
        probe.eval()  # some train() overrides (mmdet ResNet) return None
        with torch.no_grad():
            outs = probe(
                torch.empty(1, in_channels, PROBE_SIZE, PROBE_SIZE,
                            device='meta'))
    except Exception as e:  # a backbone with ops that have no meta kernel
        raise ValueError(
            f'cannot infer the output channels of {type(backbone).__name__} '
            f'({type(e).__name__}: {e}); give neck.in_channels explicitly.'
        ) from e
    if isinstance(outs, torch.Tensor):
        outs = (outs, )
    return tuple(int(out.shape[1]) for out in outs)


def backbone_cfg_out_channels(backbone_cfg: dict) -> Tuple[int, ...]:
    """Output channels of the backbone ``backbone_cfg`` builds.

    The backbone is built on the ``meta`` device without its ``init_cfg``
    (nothing is loaded or allocated), through mmdet's registry as the
    detector itself will build it (scoped names such as
    ``'slim_plugins.DeployedSlimResNet'`` work).

    Args:
        backbone_cfg (dict): The detector's ``backbone`` config.

    Returns:
        tuple[int]: One entry per returned feature map.
    """
    cfg = copy.deepcopy(backbone_cfg)
    cfg.pop('init_cfg', None)
    with torch.device('meta'):
        backbone = MMDET_MODELS.build(cfg)
    return backbone_out_channels(backbone)


def resolve_neck_in_channels(backbone_cfg: dict,
                             neck_cfg: Optional[dict]) -> Optional[dict]:
    """Return ``neck_cfg`` with ``in_channels`` set from the backbone.

    ``in_channels`` missing or ``'auto'`` is filled in; a given list must
    equal the backbone's channels.

    Args:
        backbone_cfg (dict): The detector's backbone config.
        neck_cfg (dict, optional): The detector's neck config.

    Returns:
        dict | None: A copy of ``neck_cfg`` with ``in_channels`` (None if
        there is no neck).

    Raises:
        ValueError: If an explicit ``in_channels`` disagrees with the
            backbone.
    """
    if neck_cfg is None:
        return None
    neck_cfg = copy.deepcopy(neck_cfg)
    channels = list(backbone_cfg_out_channels(backbone_cfg))
    given: Any = neck_cfg.get('in_channels', AUTO)
    if given == AUTO:
        neck_cfg['in_channels'] = channels
    elif not isinstance(given, Sequence) or list(given) != channels:
        raise ValueError(
            f'neck.in_channels={given!r} does not match the backbone '
            f'{backbone_cfg.get("type")!r}, whose feature maps have '
            f'{channels} channels; set neck.in_channels=\'auto\' (or remove '
            'it) to derive it from the backbone.')
    return neck_cfg


class AutoNeckChannelsMixin:
    """Detector mixin: the neck's ``in_channels`` follow the backbone.

    Put it before the mmdet detector class, e.g.
    ``class DeployedMaskRCNN(AutoNeckChannelsMixin, MaskRCNN)``; the neck
    config may then say ``in_channels='auto'`` (or omit it).
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 **kwargs: Any) -> None:
        super().__init__(
            backbone=backbone,
            neck=resolve_neck_in_channels(backbone, neck),
            **kwargs)
