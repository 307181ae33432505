# Copyright (c) slim_plugins contributors. All rights reserved.
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS
from .utils import cross_view_average


@MODELS.register_module()
class NegativeCosineLoss(nn.Module):
    """Negative cosine similarity to a detached target.

    ``L = -mean_b cos(q_b, t_b)`` with ``t`` detached; the range is
    ``[-1, 1]`` (not the ``2 - 2 cos`` form of BYOL's paper). Used by US3L
    (`Cao et al., CVPR 2023 <https://arxiv.org/abs/2303.06870>`_) as the
    BYOL loss and as the sub-network distillation loss.

    Args:
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
        eps (float): Norm floor of the cosine. Defaults to 1e-8.
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Loss of one (prediction, target) pair.

        Args:
            pred (Tensor): ``B x D`` predictions (``B x ...`` is flattened).
            target (Tensor): Targets of the same shape (detached here).

        Returns:
            Tensor: Scalar loss.
        """
        if pred.shape != target.shape:
            raise ValueError(f'NegativeCosineLoss: pred {tuple(pred.shape)} '
                             f'and target {tuple(target.shape)} differ.')
        pred = pred.flatten(1)
        target = target.detach().flatten(1)
        # L = -mean_b cos(q_b, t_b)
        cosine = F.cosine_similarity(pred, target, dim=1, eps=self.eps)
        return -self.loss_weight * cosine.mean()

    def cross_view(self, preds: Sequence[torch.Tensor],
                   targets: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(L(q_1, t_2) + L(q_2, t_1)) / 2`` over the two views.

        Args:
            preds (Sequence[Tensor]): Predictions of view 1 and 2.
            targets (Sequence[Tensor]): Targets of view 1 and 2.

        Returns:
            Tensor: Scalar loss.
        """
        return cross_view_average(self, preds, targets)
