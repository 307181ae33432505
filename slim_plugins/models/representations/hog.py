# Copyright (c) slim_plugins contributors. All rights reserved.
"""Histograms of oriented gradients per colour channel (MV-MR)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS

SOBEL_X = ((-1., 0., 1.), (-2., 0., 2.), (-1., 0., 1.))


@MODELS.register_module()
class HOGRepresentation(nn.Module):
    """Per channel: Sobel gradients, magnitude and unsigned orientation in
    ``[0, pi)``, a ``bins``-bin histogram per pixel, averaged over
    ``pool_size x pool_size`` cells: ``B x C*bins x H/p x W/p``.

    MV-MR's ``full_img_hog``. The orientation ``theta`` falls at position
    ``u = theta / pi * bins``; by default the magnitude is split linearly
    between bins ``floor(u)`` and ``floor(u) + 1`` (mod ``bins``):
    ``mag (1 - frac)`` and ``mag frac``. ``original_binning=True``
    reproduces the original's bug (spec 3.4): ``mag`` on the floor bin and
    ``1 - mag`` on the next. The Sobel filters zero-pad the image.

    Args:
        bins (int): Orientation bins. Defaults to 24.
        pool_size (int): Cell size of the average pooling. Defaults to 8.
        original_binning (bool): Reproduce the original's binning.
            Defaults to False.
    """

    def __init__(self,
                 bins: int = 24,
                 pool_size: int = 8,
                 original_binning: bool = False) -> None:
        super().__init__()
        if bins < 2 or pool_size < 1:
            raise ValueError(f'HOGRepresentation: bins={bins} must be >= 2 '
                             f'and pool_size={pool_size} >= 1.')
        self.bins = bins
        self.pool_size = pool_size
        self.original_binning = original_binning
        sobel_x = torch.tensor(SOBEL_X)
        self.register_buffer(
            'kernels', torch.stack([sobel_x, sobel_x.t()])[:, None],
            persistent=False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = images.shape
        if self.pool_size > min(height, width):
            raise ValueError(f'HOGRepresentation: pool_size={self.pool_size} '
                             f'is larger than the {height}x{width} images; '
                             f'lower it.')
        x = images.float().reshape(batch * channels, 1, height, width)
        grads = F.conv2d(x, self.kernels.to(x), padding=1)
        gx, gy = grads[:, 0], grads[:, 1]
        magnitude = torch.sqrt(gx * gx + gy * gy)
        theta = torch.remainder(torch.atan2(gy, gx), math.pi)
        position = theta / math.pi * self.bins
        floor = torch.floor(position)
        frac = position - floor
        low = floor.long() % self.bins
        high = (low + 1) % self.bins
        if self.original_binning:
            w_low, w_high = magnitude, 1 - magnitude
        else:
            w_low, w_high = magnitude * (1 - frac), magnitude * frac
        hist = x.new_zeros(batch * channels, self.bins, height, width)
        hist.scatter_add_(1, low[:, None], w_low[:, None])
        hist.scatter_add_(1, high[:, None], w_high[:, None])
        pooled = F.avg_pool2d(hist, self.pool_size)
        return pooled.reshape(batch, channels * self.bins,
                              *pooled.shape[-2:])
