# Copyright (c) slim_plugins contributors. All rights reserved.
"""Wavelet scattering coefficients (MV-MR's ScatNet representation)."""
import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


@MODELS.register_module()
class ScatteringRepresentation(nn.Module):
    """kymatio's ``Scattering2D(J, L)`` of every image channel.

    ``J = 2, L = 8`` gives 81 coefficients per channel at a quarter of the
    resolution (MV-MR's ``full_img_scatnet``). kymatio is an optional
    dependency (``pip install kymatio``); without it the module refuses to
    build and names the package.

    Args:
        image_size (int): Height = width of the images.
        J (int): Scales. Defaults to 2.
        L (int): Orientations. Defaults to 8.
        scale (float): Factor on the coefficients (MV-MR: 1/32).
            Defaults to 1.
    """

    def __init__(self,
                 image_size: int,
                 J: int = 2,
                 L: int = 8,
                 scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        try:
            from kymatio.torch import Scattering2D
        except ImportError as err:
            raise ImportError(
                'ScatteringRepresentation needs the optional package '
                "'kymatio' (pip install kymatio); drop the ScatNet "
                'representation from the config or install it.') from err
        if image_size < 2**J:
            raise ValueError(f'ScatteringRepresentation: image_size='
                             f'{image_size} is smaller than 2^J = {2**J}.')
        self.scattering = Scattering2D(J=J, L=L, shape=(image_size,
                                                        image_size))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.scattering(images.float().contiguous()) * self.scale
