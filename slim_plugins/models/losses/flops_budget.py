# Copyright (c) slim_plugins contributors. All rights reserved.
"""Quadratic penalty keeping a gated network's MACs at a target."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


def check_target(target: float, owner: str) -> float:
    """``target`` as a float in ``(0, 1]``, else a ValueError."""
    if isinstance(target, bool) or not isinstance(
            target, (int, float)) or not 0 < target <= 1:
        raise ValueError(f'{owner}: target={target!r} must lie in (0, 1] '
                         f'(the fraction of dense MACs kept).')
    return float(target)


@MODELS.register_module()
class FLOPsBudgetLoss(nn.Module):
    """``lambda * (r - t)^2``: the MACs ratio ``r`` pulled to a target.

    The "sparsity" loss of `Unification (BMVC 2023)
    <https://arxiv.org/abs/2301.09164>`_: ``r`` is the batch-mean MACs of
    the gated path over the dense MACs
    (:attr:`~slim_plugins.models.backbones.GateStats.ratio`), ``t`` the
    fraction of dense MACs to keep.

    Args:
        target (float): ``t`` in ``(0, 1]``.
        loss_weight (float): ``lambda``. Defaults to 5.
    """

    def __init__(self, target: float, loss_weight: float = 5.0) -> None:
        super().__init__()
        self.target = check_target(target, 'FLOPsBudgetLoss')
        self.loss_weight = loss_weight

    def forward(self, ratio: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * (ratio - self.target)**2
