# Copyright (c) slim_plugins contributors. All rights reserved.
"""Parameter-free batch normalisation of pooled features for linear probes."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from slim_plugins.registry import MODELS


@MODELS.register_module()
class FeatureNormNeck(BaseModule):
    """Normalise pooled features with a BN that has no affine parameters.

    A linear probe on a frozen backbone is sensitive to the scale of the
    features, which differs wildly between backbones (a randomly initialised
    ResNet with untrained BN statistics produces features orders of
    magnitude larger than a pretrained one). Following the linear-probe
    protocol of MAE (https://arxiv.org/abs/2111.06377), a BN without affine
    parameters in front of the linear layer makes one learning rate fit
    every backbone; it is still a linear classifier.

    Args:
        in_channels (int): Feature dimension.
        eps (float): BN epsilon. Defaults to 1e-6.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 eps: float = 1e-6,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.bn = nn.BatchNorm1d(in_channels, eps=eps, affine=False)

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        """Normalise every (N, C) tensor of ``inputs``."""
        return tuple(self.bn(x) for x in inputs)
