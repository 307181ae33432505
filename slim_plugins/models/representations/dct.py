# Copyright (c) slim_plugins contributors. All rights reserved.
"""Orthonormal 2-D discrete cosine transform with torch's FFT."""
import math

import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


def _dct_last_dim(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dimension (Makhoul's FFT form).

    ``X_k = s_k sum_n x_n cos(pi (n + 1/2) k / N)``, ``s_0 = sqrt(1/N)``,
    ``s_k = sqrt(2/N)``: reorder to ``[x_0, x_2, ..., x_3, x_1]``, take the
    FFT and rotate each bin by ``exp(-i pi k / (2N))``.
    """
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spectrum = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    angle = -math.pi * k / (2 * n)
    real = spectrum.real * torch.cos(angle) - spectrum.imag * torch.sin(angle)
    scale = torch.full((n, ), math.sqrt(2.0 / n), device=x.device,
                       dtype=x.dtype)
    scale[0] = math.sqrt(1.0 / n)
    return real * scale


def dct_2d(images: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions."""
    x = _dct_last_dim(images)
    return _dct_last_dim(x.transpose(-1, -2)).transpose(-1, -2)


@MODELS.register_module()
class DCTRepresentation(nn.Module):
    """MV-MR's 2-D DCT representation of each image channel (torch's own
    FFT, no extra package)."""

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dtype = torch.float64 if images.dtype == torch.float64 else \
            torch.float32
        return dct_2d(images.to(dtype))
