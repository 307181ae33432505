# Copyright (c) slim_plugins contributors. All rights reserved.
"""Gaussian-potential uniformity of per-image mean embeddings."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


@MODELS.register_module()
class GaussianPotentialUniformity(nn.Module):
    """``log mean_{b < b'} exp(-t ||zbar_b - zbar_b'||^2)``.

    The uniformity of `Wang & Isola (ICML 2020) <https://arxiv.org/abs/
    2005.10242>`_ on the mean patch embedding of each image: the
    alternative to the total coding rate in an EMP-SSL re-implementation
    (``--uniformity_loss vonmises``). Lower is more uniform.

    Args:
        t (float): Potential scale. Defaults to 2.
        loss_weight (float): Multiplier. Defaults to 1.0.
    """

    def __init__(self, t: float = 2., loss_weight: float = 1.) -> None:
        super().__init__()
        if t <= 0:
            raise ValueError(f'GaussianPotentialUniformity: t={t} must be '
                             '> 0.')
        self.t = t
        self.loss_weight = loss_weight

    def forward(self, z: torch.Tensor, num_patches: int) -> torch.Tensor:
        """Loss of ``n * B x d`` patch-major embeddings (``B >= 2``).

        Args:
            z (Tensor): Row ``i * B + b`` is patch ``i`` of image ``b``.
            num_patches (int): ``n``.

        Returns:
            Tensor: Scalar loss.
        """
        if num_patches < 1 or z.size(0) % num_patches or \
                z.size(0) // num_patches < 2:
            raise ValueError(f'GaussianPotentialUniformity: {z.size(0)} rows '
                             f'do not split into num_patches={num_patches} '
                             'equal chunks of at least 2 images.')
        means = z.reshape(num_patches, -1, z.size(1)).mean(dim=0)
        # pairwise squared distances over b < b'
        distances = torch.pdist(means, p=2).pow(2)
        # log mean exp(-t d^2) = logsumexp(-t d^2) - log(#pairs)
        potential = torch.logsumexp(-self.t * distances, dim=0) - torch.log(
            torch.tensor(float(distances.numel()), device=z.device))
        return self.loss_weight * potential
