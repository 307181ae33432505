# Copyright (c) slim_plugins contributors. All rights reserved.
"""Slimmable Mask R-CNN: every width trained each iteration (SlimCLR)."""
from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.detectors import MaskRCNN

from slim_plugins.models.algorithms.multi_width_step import \
    MultiWidthTrainMixin
from slim_plugins.models.backbones.pretrained_loading import (
    is_pretrained_cfg, load_pretrained_strict)
from slim_plugins.ops import slim_ops
from slim_plugins.registry import MODELS
from .neck_channels import AutoNeckChannelsMixin, backbone_out_channels


def zero_pad_channels(feats: Sequence[torch.Tensor],
                      channels: Sequence[int]) -> Tuple[torch.Tensor, ...]:
    """Zero-pad each ``(N, C, H, W)`` map to ``channels[i]`` channels.

    The padded channels are appended after the real ones. Followed by a
    convolution, this is exactly that convolution with its input channels
    sliced to the leading ``C`` (the padded inputs multiply weights by 0
    and receive no gradient), i.e. a slimmable lateral convolution.

    Args:
        feats (Sequence[Tensor]): Feature maps of a sub-width backbone.
        channels (Sequence[int]): Target channels, one per map.

    Returns:
        tuple[Tensor]: The padded maps (unchanged when already full).
    """
    if len(feats) != len(channels):
        raise ValueError(f'got {len(feats)} feature maps for '
                         f'{len(channels)} channel counts {list(channels)}.')
    padded = []
    for feat, target in zip(feats, channels):
        missing = target - feat.shape[1]
        if missing < 0:
            raise ValueError(f'a feature map has {feat.shape[1]} channels, '
                             f'more than the {target} of the full width.')
        # F.pad's pairs run from the last dim: (W), (H), (C: 0 before,
        # `missing` after).
        padded.append(F.pad(feat, (0, 0, 0, 0, 0, missing)
                            ) if missing else feat)
    return tuple(padded)


@MODELS.register_module()
class SlimmableMaskRCNN(MultiWidthTrainMixin, AutoNeckChannelsMixin,
                        MaskRCNN):
    """Mask R-CNN with a slimmable backbone shared by all widths.

    The detection transfer of `SlimCLR <https://arxiv.org/abs/2209.15525>`_
    (``benchmark/`` of its repository): only the backbone is slimmable
    (a :class:`~slim_plugins.models.backbones.SlimResNet`, switchable BN for
    SlimCLR); the FPN and all heads are full-size and shared by every width.
    Each sub-width stage output is zero-padded to the full channel count
    before the FPN, as the reference does (equivalent to slicing the input
    channels of the FPN's lateral convolutions, see
    :func:`zero_pad_channels`; the deployed FLOPs of a width are therefore
    those of the sliced laterals).

    Training uses :class:`MultiWidthTrainMixin`: every width of the step is
    forwarded and back-propagated, gradients accumulate, and one optimizer
    step (with the config's gradient clipping) follows, as in SlimCLR's
    ``Runner.train``. Losses are logged per width (``loss_mask@w0.25``...).
    Evaluate every width with ``test_cfg=dict(
    type='slim_plugins.MultiWidthTestLoop', widths=[...])``, which reports
    ``coco/bbox_mAP@w0.25``... A universally slimmable backbone (shared BN)
    additionally needs a ``BNCalibrationHook`` before evaluation.

    Args:
        backbone (dict): Config of a slimmable backbone (holding slim ops);
            a ``Pretrained`` init_cfg is loaded strictly.
        rpn_head (dict): RPN head config.
        roi_head (dict): RoI head config.
        train_cfg (dict): Training config of the RPN and the RoI head.
        test_cfg (dict): Testing config of the RPN and the RoI head.
        neck (dict, optional): Neck config; ``in_channels`` may be
            ``'auto'`` (the backbone's full-width channels).
        default_widths (Sequence[float], optional): Widths of every step
            when no ``WidthSamplingHook`` sets them. None takes the
            backbone's switchable widths (all of them, SlimCLR). Defaults to
            None.
        step_mode (str): ``'accumulate'`` (SlimCLR) or ``'per_width'``.
            Defaults to ``'accumulate'``.
        loss_weighting (str | int): Per-width loss weights (see
            :func:`~slim_plugins.engine.samplers.width_loss_weights`);
            SlimCLR's detection uses none. Defaults to ``'uniform'``.
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 default_widths: Optional[Sequence[float]] = None,
                 step_mode: str = 'accumulate',
                 loss_weighting: Union[str, int] = 'uniform',
                 **kwargs: Any) -> None:
        super().__init__(backbone=backbone, neck=neck, **kwargs)
        if not slim_ops(self.backbone):
            raise TypeError(
                f'SlimmableMaskRCNN needs a slimmable backbone (built from '
                f'slim ops, e.g. slim_plugins.SlimResNet), got '
                f'{type(self.backbone).__name__}; use DeployedMaskRCNN for a '
                'backbone of one width.')
        self.full_channels: Tuple[int, ...] = backbone_out_channels(
            self.backbone)
        if default_widths is None:
            default_widths = getattr(self.backbone.width_state, 'widths',
                                     None)
        self.init_multi_width(step_mode, loss_weighting, default_widths)

    def extract_feat(self,
                     batch_inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Backbone at the active width, zero-padded, then the neck.

        Args:
            batch_inputs (Tensor): Images of shape ``(N, C, H, W)``.

        Returns:
            tuple[Tensor]: Multi-level features of the neck.
        """
        x = zero_pad_channels(self.backbone(batch_inputs), self.full_channels)
        if self.with_neck:
            x = self.neck(x)
        return x

    def init_weights(self) -> None:
        """Initialise; a ``Pretrained`` backbone is loaded strictly."""
        backbone = self.backbone
        if is_pretrained_cfg(backbone.init_cfg) and not backbone.is_init:
            load_pretrained_strict(backbone, backbone.init_cfg)
            backbone.is_init = True
        super().init_weights()

    def slimmable_modules(self) -> List[torch.nn.Module]:
        """Only the backbone changes width; the neck and heads are shared."""
        return [self.backbone]
