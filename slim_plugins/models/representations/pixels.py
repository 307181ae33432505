# Copyright (c) slim_plugins contributors. All rights reserved.
"""The image itself as a representation (MV-MR's ``full_img``)."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


@MODELS.register_module()
class PixelRepresentation(nn.Module):
    """The (normalised) pixels, unchanged, without gradient."""

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.detach().float()
