# Copyright (c) slim_plugins contributors. All rights reserved.
"""Local standard deviation of an image (3x3 by default)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS


@MODELS.register_module()
class LocalStdRepresentation(nn.Module):
    """``sqrt(E[x^2] - E[x]^2 + 1e-8)`` over a ``k x k`` window per pixel.

    MV-MR's ``full_img_std``: a box blur of ``x`` and of ``x^2`` per
    channel, with reflect padding so the output has the image's size.

    Args:
        kernel_size (int): Odd window size, ``>= 3``. Defaults to 3.
    """

    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f'LocalStdRepresentation: kernel_size='
                             f'{kernel_size} must be odd and >= 3.')
        self.kernel_size = kernel_size

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pad = self.kernel_size // 2
        if min(images.shape[-2:]) <= pad:
            raise ValueError(f'LocalStdRepresentation: images of '
                             f'{tuple(images.shape[-2:])} are too small for '
                             f'a {self.kernel_size}x{self.kernel_size} '
                             f'window with reflect padding.')
        x = images.float()
        padded = F.pad(torch.stack([x, x * x]).flatten(0, 1),
                       (pad, pad, pad, pad), mode='reflect')
        means = F.avg_pool2d(padded, self.kernel_size, stride=1)
        mean, mean_sq = means.unflatten(0, (2, x.shape[0]))
        return (mean_sq - mean * mean).clamp_min(0).add(1e-8).sqrt()
