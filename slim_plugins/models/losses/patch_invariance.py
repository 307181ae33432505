# Copyright (c) slim_plugins contributors. All rights reserved.
"""Invariance of patch embeddings to their image's mean embedding."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS


@MODELS.register_module()
class PatchInvarianceLoss(nn.Module):
    """``L_inv = -(1/n) sum_i (1/B) sum_b cos(z_ib, mean_i z_ib)``.

    From `EMP-SSL (Tong et al., 2023) <https://arxiv.org/abs/2304.03977>`_:
    every patch embedding is pulled towards the mean embedding of its image.
    The gradient flows through the mean too (as in the original), and the
    mean is not re-normalised (the cosine normalises it).

    Args:
        loss_weight (float): Multiplier (EMP-SSL: 200). Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, z: torch.Tensor, num_patches: int) -> torch.Tensor:
        """Loss of ``n * B x d`` patch-major embeddings.

        Args:
            z (Tensor): Row ``i * B + b`` is patch ``i`` of image ``b``.
            num_patches (int): ``n``.

        Returns:
            Tensor: Scalar loss in ``[-loss_weight, loss_weight]``.
        """
        if num_patches < 1 or z.size(0) % num_patches:
            raise ValueError(f'PatchInvarianceLoss: {z.size(0)} rows do not '
                             f'split into num_patches={num_patches} equal '
                             'chunks (patch-major layout).')
        patches = z.reshape(num_patches, z.size(0) // num_patches, -1)
        mean = patches.mean(dim=0, keepdim=True)
        # cos(z_ib, zbar_b), averaged over patches and images
        cosine = F.cosine_similarity(patches, mean.expand_as(patches), dim=2)
        return -self.loss_weight * cosine.mean()
