# Copyright (c) slim_plugins contributors. All rights reserved.
"""VICReg: variance-invariance-covariance regularised SSL."""
from typing import Dict, List, Optional

import torch
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from slim_plugins.registry import MODELS


def check_two_views(inputs, owner: str) -> List[torch.Tensor]:
    """The two views of a batch, or a ValueError naming what came."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        count = len(inputs) if isinstance(inputs, (list, tuple)) else 1
        raise ValueError(f'{owner} needs two views per image (MultiView '
                         f'num_views=[2] or two pipelines), got {count}.')
    return list(inputs)


@MODELS.register_module()
class VICReg(BaseSelfSupervisor):
    """VICReg with one encoder for both views (mmpretrain has none).

    From `VICReg (Bardes et al., ICLR 2022) <https://arxiv.org/abs/
    2105.04906>`_: ``L = VICReg(z_1, z_2)`` with ``z_i = P(f(x_i))``
    (:class:`~slim_plugins.models.losses.VICRegLoss`, 25/25/1). The dense
    baseline of Unification's tables.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Projector config (e.g. mmpretrain's ``NonLinearNeck``
            512-2048-2048-2048 with BN and ReLU).
        loss (dict): Defaults to ``VICRegLoss()``.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.vicreg_loss = MODELS.build(loss or dict(type='VICRegLoss'))

    def project(self, view: torch.Tensor) -> torch.Tensor:
        """``z = P(f(x))`` of a batch of images."""
        return self.neck(self.backbone(view))[0]

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        views = check_two_views(inputs, type(self).__name__)
        z_1, z_2 = (self.project(v) for v in views)
        return dict(loss_vicreg=self.vicreg_loss(z_1, z_2))
