# Copyright (c) slim_plugins contributors. All rights reserved.
"""Annealed per-block bounds on the density of a gated network."""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS
from .flops_budget import check_target


@MODELS.register_module()
class BlockDensityBoundLoss(nn.Module):
    """Keep every block's density inside bounds that widen as ``p`` decays.

    The "balance" loss of `Unification (BMVC 2023)
    <https://arxiv.org/abs/2301.09164>`_: with block densities ``rho_l``
    (batch-mean fraction of active channels),
    ``lo = p sqrt(t)``, ``hi = 1 - p (1 - sqrt(t))`` and

    ``L = gamma * mean_l [ReLU(lo - rho_l)^2 + ReLU(rho_l - hi)^2]``.

    At ``p = 1`` every block is pinned to ``sqrt(t)``; ``p`` is annealed to
    0 by :class:`~slim_plugins.engine.hooks.GateAnnealHook`. The
    ``sqrt(t)`` is the original's (inherited from spatial x channel gating;
    for channel gating alone a block's cost is linear in its density).

    Args:
        target (float): ``t`` in ``(0, 1]``.
        loss_weight (float): ``gamma``. Defaults to 1.
    """

    def __init__(self, target: float, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.target = check_target(target, 'BlockDensityBoundLoss')
        self.loss_weight = loss_weight

    def bounds(self, p: float) -> Tuple[float, float]:
        """``(lo, hi)`` at annealing factor ``p``."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f'BlockDensityBoundLoss: p={p} must lie in '
                             f'[0, 1].')
        root = math.sqrt(self.target)
        return p * root, 1.0 - p * (1.0 - root)

    def forward(self, densities: torch.Tensor, p: float) -> torch.Tensor:
        """The loss of ``L`` block densities at annealing factor ``p``."""
        lo, hi = self.bounds(p)
        below = F.relu(lo - densities)**2
        above = F.relu(densities - hi)**2
        return self.loss_weight * (below + above).mean()
