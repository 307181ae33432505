# Copyright (c) slim_plugins contributors. All rights reserved.
"""The image itself as a representation (MV-MR's ``full_img``)."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


@MODELS.register_module()
class PixelRepresentation(nn.Module):
    """The (normalised) pixels times ``scale``, without gradient.

    Args:
        scale (float): Factor on the pixels. MV-MR divides by 32 (an fp16
            range trick; dCor is nearly scale-free, not exactly, because of
            its distance floor). Defaults to 1.
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.detach().float() * self.scale
