# Copyright (c) slim_plugins contributors. All rights reserved.
"""Contrastive cross-entropy losses on similarity logits (MoCo v2 / v3)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS


def moco_logits(query: torch.Tensor, key: torch.Tensor,
                queue: torch.Tensor) -> torch.Tensor:
    """MoCo v2 logits ``[q . k, q^T Q]`` (raw cosines, no temperature).

    Args:
        query (Tensor): ``N x C`` L2-normalised queries.
        key (Tensor): ``N x C`` L2-normalised positive keys.
        queue (Tensor): ``C x K`` L2-normalised negative keys.

    Returns:
        Tensor: ``N x (1 + K)`` logits, the positive at column 0.
    """
    # l_pos = q . k (N x 1), l_neg = q Q (N x K)
    positive = (query * key).sum(dim=1, keepdim=True)
    negative = query @ queue
    return torch.cat([positive, negative], dim=1)


@MODELS.register_module()
class InfoNCELoss(nn.Module):
    """Contrastive cross-entropy on similarity logits.

    ``L = w * CE(l / tau, y)``; by default ``y = 0`` for every row (MoCo v2
    logits from :func:`moco_logits`, `He et al., CVPR 2020
    <https://arxiv.org/abs/1911.05722>`_).

    Args:
        temperature (float): ``tau``. Defaults to 0.2 (MoCo v2 / SlimCLR).
        loss_weight (float): ``w``. Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 0.2,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'{type(self).__name__}: temperature='
                             f'{temperature} must be > 0.')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self,
                logits: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Loss of ``N x M`` logits (without temperature).

        Args:
            logits (Tensor): ``N x M`` raw similarities.
            labels (Tensor, optional): Index of each row's positive;
                defaults to 0 for every row.

        Returns:
            Tensor: Scalar loss.
        """
        if labels is None:
            labels = torch.zeros(
                logits.size(0), dtype=torch.long, device=logits.device)
        # L = w * CE(l / tau, y)
        return self.loss_weight * F.cross_entropy(logits / self.temperature,
                                                  labels)


@MODELS.register_module()
class MoCoV3ContrastiveLoss(nn.Module):
    """MoCo v3 contrastive loss ``2 tau * CE(q k^T / tau, y)``.

    From `Chen et al., ICCV 2021 <https://arxiv.org/abs/2104.02057>`_, as
    used by SlimCLR-MoCoV3. ``q`` and ``k`` are L2-normalised here. The keys
    are those of the whole (all-gathered) batch; row ``n`` of this rank's
    queries has its positive at column ``label_offset + n``
    (``rank * N`` under DDP).

    Args:
        temperature (float): ``tau``. Defaults to 1.0 (SlimCLR-MoCoV3).
        loss_weight (float): Multiplier on top of ``2 tau``.
            Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'{type(self).__name__}: temperature='
                             f'{temperature} must be > 0.')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self,
                query: torch.Tensor,
                keys: torch.Tensor,
                label_offset: int = 0) -> torch.Tensor:
        """Loss of ``N`` queries against ``M >= N`` keys.

        Args:
            query (Tensor): ``N x C`` queries.
            keys (Tensor): ``M x C`` keys (detached here).
            label_offset (int): Column of the first query's positive.
                Defaults to 0.

        Returns:
            Tensor: Scalar loss.
        """
        query = F.normalize(query, dim=1)
        keys = F.normalize(keys.detach(), dim=1)
        if label_offset + query.size(0) > keys.size(0):
            raise ValueError(f'MoCoV3ContrastiveLoss: {query.size(0)} '
                             f'queries with label_offset={label_offset} '
                             f'need at least {label_offset + query.size(0)} '
                             f'keys, got {keys.size(0)}.')
        labels = torch.arange(
            query.size(0), device=query.device) + label_offset
        logits = query @ keys.t() / self.temperature
        # L = 2 tau * CE(q k^T / tau, y)
        loss = 2 * self.temperature * F.cross_entropy(logits, labels)
        return self.loss_weight * loss
