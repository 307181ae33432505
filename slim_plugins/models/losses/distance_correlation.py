# Copyright (c) slim_plugins contributors. All rights reserved.
"""Distance correlation between two sets of embeddings (MV-MR)."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


def _centred_distances(x: torch.Tensor, floor: float) -> torch.Tensor:
    """Double-centred ``a_ij = sqrt(max(|x_i - x_j|^2, floor))``.

    The squared distances come from the Gram matrix (``B x B`` memory,
    never ``B x B x p``) and are clamped at ``floor`` before the root, so
    the diagonal is ``sqrt(floor)`` and the gradient stays finite.
    """
    squares = (x * x).sum(dim=1)
    gram = x @ x.t()
    dist2 = (squares[:, None] + squares[None, :] - 2 * gram).clamp_min(floor)
    dist = dist2.sqrt()
    return (dist - dist.mean(dim=0, keepdim=True) -
            dist.mean(dim=1, keepdim=True) + dist.mean())


def distance_correlation(x: torch.Tensor,
                         z: torch.Tensor,
                         floor: float = 1e-4) -> torch.Tensor:
    """Sample distance correlation ``dCor(X, Z)`` in ``[0, 1]``.

    ``dCov^2(X, Z) = mean_ij A_ij B_ij`` (the V-statistic of the
    double-centred distances) and ``dCor = sqrt(dCov^2(X, Z)) /
    (dCov^2(X, X) dCov^2(Z, Z))^(1/4)``, as MV-MR's estimator. Rows are
    flattened; computed in float32 (float64 stays float64) outside autocast;
    every value under a square root is clamped at 0 first.

    Args:
        x (Tensor): ``B x ...`` first set (``B >= 2``).
        z (Tensor): ``B x ...`` second set, same ``B``.
        floor (float): Clamp of the squared distances. Defaults to 1e-4.

    Returns:
        Tensor: Scalar ``dCor``.
    """
    if x.shape[0] != z.shape[0]:
        raise ValueError(f'distance_correlation: the two sets have '
                         f'{x.shape[0]} and {z.shape[0]} rows; they must '
                         f'pair up.')
    if x.shape[0] < 2:
        raise ValueError(f'distance_correlation: a batch of {x.shape[0]} is '
                         f'too small (dCor is undefined below 2 samples).')
    dtype = torch.float64 if torch.float64 in (x.dtype, z.dtype) else \
        torch.float32
    with torch.autocast(device_type=x.device.type, enabled=False):
        a = _centred_distances(x.flatten(1).to(dtype), floor)
        b = _centred_distances(z.flatten(1).to(dtype), floor)
        dcov_xz = (a * b).mean().clamp_min(0)
        dvar_x = (a * a).mean().clamp_min(0)
        dvar_z = (b * b).mean().clamp_min(0)
        denominator = (dvar_x * dvar_z).clamp_min(1e-30).sqrt().sqrt()
        return dcov_xz.sqrt() / denominator


@MODELS.register_module()
class DistanceCorrelationLoss(nn.Module):
    """``1 - dCor(x, z)`` (maximise the dependence) or ``dCor(x, z)``.

    The dependence term of `MV-MR (Kinakh et al., 2023)
    <https://arxiv.org/abs/2303.12130>`_; see
    :func:`distance_correlation`.

    Args:
        maximize (bool): Return ``1 - dCor`` (True) or ``dCor`` (False).
            Defaults to True.
        loss_weight (float): Defaults to 1.
        floor (float): Clamp of the squared distances. Defaults to 1e-4.
    """

    def __init__(self,
                 maximize: bool = True,
                 loss_weight: float = 1.0,
                 floor: float = 1e-4) -> None:
        super().__init__()
        self.maximize = maximize
        self.loss_weight = loss_weight
        self.floor = floor

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        dcor = distance_correlation(x, z, self.floor)
        return self.loss_weight * ((1 - dcor) if self.maximize else dcor)
