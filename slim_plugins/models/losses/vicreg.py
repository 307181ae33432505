# Copyright (c) slim_plugins contributors. All rights reserved.
"""VICReg: variance-invariance-covariance regularisation."""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS


def variance_hinge(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """``mean_j ReLU(1 - sqrt(Var_j(z) + eps))`` (unbiased variance).

    Args:
        z (Tensor): ``N x D`` embeddings.
        eps (float): Added under the square root. Defaults to 1e-4.

    Returns:
        Tensor: The hinge of the per-dimension standard deviation at 1.
    """
    return F.relu(1. - torch.sqrt(z.var(dim=0) + eps)).mean()


def _covariance(z: torch.Tensor) -> torch.Tensor:
    # sum_{i != j} C_ij^2 / D, C = centred covariance / (N - 1)
    num, dim = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.t() @ centred / (num - 1)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / dim


@MODELS.register_module()
class VICRegLoss(nn.Module):
    """``w_sim * sim + w_var * var + w_cov * cov`` of two embeddings.

    From `VICReg (Bardes et al., ICLR 2022) <https://arxiv.org/abs/
    2105.04906>`_, in solo-learn's form (as the Unification paper uses it,
    per GPU, no all-gather): ``sim`` is the mean squared difference, ``var``
    the hinge ``mean_j ReLU(1 - sqrt(Var_j + eps))`` of each embedding
    (summed over the two), ``cov`` the squared off-diagonal entries of each
    embedding's covariance (``/ (N - 1)``), divided by ``D`` and summed.

    Args:
        sim_weight (float): Defaults to 25.
        var_weight (float): Defaults to 25.
        cov_weight (float): Defaults to 1.
        eps (float): Added to the variance under the square root.
            Defaults to 1e-4.
    """

    def __init__(self,
                 sim_weight: float = 25.,
                 var_weight: float = 25.,
                 cov_weight: float = 1.,
                 eps: float = 1e-4) -> None:
        super().__init__()
        self.sim_weight = sim_weight
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.eps = eps

    def components(self, z_a: torch.Tensor,
                   z_b: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The unweighted ``sim``, ``var`` and ``cov`` terms.

        Args:
            z_a (Tensor): ``N x D`` embeddings of one view (``N >= 2``).
            z_b (Tensor): ``N x D`` embeddings of the other.

        Returns:
            dict[str, Tensor]: ``sim``, ``var``, ``cov``.
        """
        if z_a.shape != z_b.shape or z_a.dim() != 2 or z_a.size(0) < 2:
            raise ValueError(f'VICRegLoss needs two N x D embeddings with '
                             f'N >= 2, got {tuple(z_a.shape)} and '
                             f'{tuple(z_b.shape)}.')
        return dict(
            sim=F.mse_loss(z_a, z_b),
            var=variance_hinge(z_a, self.eps) + variance_hinge(z_b, self.eps),
            cov=_covariance(z_a) + _covariance(z_b))

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """The weighted sum of :meth:`components`."""
        terms = self.components(z_a, z_b)
        return (self.sim_weight * terms['sim'] +
                self.var_weight * terms['var'] +
                self.cov_weight * terms['cov'])
