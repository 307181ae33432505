# Copyright (c) slim_plugins contributors. All rights reserved.
"""Total coding rate of embeddings (EMP-SSL's spreading term)."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


def coding_rate(z: torch.Tensor, eps: float = 0.2) -> torch.Tensor:
    """``R(Z) = 1/2 logdet(I_d + d / (B eps) Z^T Z)`` of ``B x d`` rows.

    Computed in float32 (float64 inputs stay float64), outside autocast, on
    the smaller of the two Gram matrices: by Sylvester's identity
    ``det(I_d + c Z^T Z) = det(I_B + c Z Z^T)``, so a batch of 100
    1024-d embeddings needs a 100 x 100 determinant. The matrix is
    symmetric positive definite, so its log-determinant is twice the sum of
    the logs of its Cholesky diagonal.

    Args:
        z (Tensor): ``B x d`` embeddings.
        eps (float): ``epsilon`` of EMP-SSL (it multiplies directly, i.e.
            plays the role of ``epsilon^2`` in MCR^2's notation).
            Defaults to 0.2.

    Returns:
        Tensor: Scalar ``R(Z)``.
    """
    if z.dim() != 2:
        raise ValueError(f'coding_rate expects B x d embeddings, got shape '
                         f'{tuple(z.shape)}.')
    batch, dim = z.shape
    dtype = torch.float64 if z.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=z.device.type, enabled=False):
        z = z.to(dtype)
        gram = z @ z.t() if batch <= dim else z.t() @ z
        scale = dim / (batch * eps)
        eye = torch.eye(gram.size(0), dtype=dtype, device=z.device)
        factor = torch.linalg.cholesky(eye + scale * gram)
        # logdet(M) = 2 sum log diag(chol(M)); R = logdet / 2
        return torch.log(torch.diagonal(factor)).sum()


@MODELS.register_module()
class TotalCodingRateLoss(nn.Module):
    """``L_TCR = -(1/n) sum_i R(Z_i)`` over the patch chunks of a batch.

    From `EMP-SSL (Tong et al., 2023) <https://arxiv.org/abs/2304.03977>`_:
    the embeddings of patch ``i`` of every image form ``Z_i``; the loss
    maximises each chunk's coding rate (see :func:`coding_rate`).

    Args:
        eps (float): ``epsilon``. Defaults to 0.2.
        loss_weight (float): Multiplier. Defaults to 1.0.
    """

    def __init__(self, eps: float = 0.2, loss_weight: float = 1.0) -> None:
        super().__init__()
        if eps <= 0:
            raise ValueError(f'TotalCodingRateLoss: eps={eps} must be > 0.')
        self.eps = eps
        self.loss_weight = loss_weight

    def forward(self, z: torch.Tensor, num_chunks: int = 1) -> torch.Tensor:
        """Loss of ``n * B x d`` patch-major embeddings.

        Args:
            z (Tensor): Embeddings, chunk ``i`` (rows ``i*B .. (i+1)*B``)
                holding patch ``i`` of every image.
            num_chunks (int): ``n``. Defaults to 1 (the whole batch).

        Returns:
            Tensor: Scalar loss (float32, or float64 for float64 input).
        """
        if num_chunks < 1 or z.size(0) % num_chunks:
            raise ValueError(f'TotalCodingRateLoss: {z.size(0)} rows do not '
                             f'split into num_chunks={num_chunks} equal '
                             'chunks.')
        rates = [coding_rate(chunk, self.eps) for chunk in z.chunk(num_chunks)]
        return -self.loss_weight * torch.stack(rates).mean()
