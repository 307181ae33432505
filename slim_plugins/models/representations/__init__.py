# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hand-crafted image representations (MV-MR's second family of views).

Each is a registered module mapping an image batch ``B x C x H x W`` to
``B x ...`` features, computed without gradient.
"""
from .augmented_pixels import AugmentedPixelRepresentation
from .dct import DCTRepresentation, dct_2d
from .hog import HOGRepresentation
from .local_std import LocalStdRepresentation
from .pixels import PixelRepresentation
from .scattering import ScatteringRepresentation

__all__ = [
    'AugmentedPixelRepresentation', 'DCTRepresentation', 'dct_2d',
    'HOGRepresentation', 'LocalStdRepresentation', 'PixelRepresentation',
    'ScatteringRepresentation'
]
