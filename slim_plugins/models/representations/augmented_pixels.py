# Copyright (c) slim_plugins contributors. All rights reserved.
"""A second random augmentation of the image (MV-MR's ``full_img_augment``)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torchvision.transforms import v2

from slim_plugins.registry import MODELS


@MODELS.register_module()
class AugmentedPixelRepresentation(nn.Module):
    """Pixels of a fresh augmentation of the (normalised) batch.

    MV-MR's ``custom`` augmentation, applied to the tensor batch with
    torchvision's ``transforms.v2``: random resized crop back to the input
    size, horizontal flip, colour jitter with probability ``jitter_prob``,
    grayscale, and a Gaussian blur that is always applied (kernel
    ``2 floor(0.05 S) + 1``, sigma uniform in ``blur_sigma``). Single-channel
    images get brightness and contrast only (saturation, hue and grayscale
    need colour).

    By default every image draws its own parameters and the jitter acts on
    the un-normalised ``[0, 1]`` image (``mean``/``std`` are the data
    preprocessor's, in pixel units). The original draws **one** set of
    parameters for the whole batch and jitters the normalised tensor
    (spec 3.9, pitfall 2): ``per_sample=False`` and
    ``augment_normalized=True`` reproduce it.

    Args:
        mean (Sequence[float]): Per-channel mean the batch was normalised
            with, 0-255 units.
        std (Sequence[float]): Per-channel std, 0-255 units.
        crop_scale (tuple): Area range of the crop. Defaults to (0.08, 1).
        flip_prob (float): Defaults to 0.5.
        jitter (tuple): Brightness, contrast, saturation, hue. Defaults to
            (0.8, 0.8, 0.8, 0.2).
        jitter_prob (float): Defaults to 0.8.
        grayscale_prob (float): Defaults to 0.2.
        blur_sigma (tuple, optional): Sigma range of the blur; None turns
            the blur off. Defaults to (0.1, 2.0).
        per_sample (bool): One draw per image (True) or per batch (False,
            the original). Defaults to True.
        augment_normalized (bool): Jitter the normalised tensor (the
            original) instead of the ``[0, 1]`` image. Defaults to False.
        scale (float): Factor on the output (MV-MR: 1/32). Defaults to 1.
    """

    def __init__(self,
                 mean: Sequence[float],
                 std: Sequence[float],
                 crop_scale: Tuple[float, float] = (0.08, 1.0),
                 flip_prob: float = 0.5,
                 jitter: Tuple[float, float, float,
                               float] = (0.8, 0.8, 0.8, 0.2),
                 jitter_prob: float = 0.8,
                 grayscale_prob: float = 0.2,
                 blur_sigma: Optional[Tuple[float, float]] = (0.1, 2.0),
                 per_sample: bool = True,
                 augment_normalized: bool = False,
                 scale: float = 1.0) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f'AugmentedPixelRepresentation: mean has '
                             f'{len(mean)} channels, std {len(std)}.')
        if any(s <= 0 for s in std):
            raise ValueError(f'AugmentedPixelRepresentation: std={list(std)} '
                             'must be positive.')
        for name, p in (('flip_prob', flip_prob), ('jitter_prob',
                                                   jitter_prob),
                        ('grayscale_prob', grayscale_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'AugmentedPixelRepresentation: {name}={p} '
                                 'is not a probability.')
        self.register_buffer(
            'mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1) /
            255, persistent=False)
        self.register_buffer(
            'std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1) /
            255, persistent=False)
        self.crop_scale = tuple(crop_scale)
        self.flip_prob = flip_prob
        self.jitter = tuple(jitter)
        self.jitter_prob = jitter_prob
        self.grayscale_prob = grayscale_prob
        self.blur_sigma = None if blur_sigma is None else tuple(blur_sigma)
        self.per_sample = per_sample
        self.augment_normalized = augment_normalized
        self.scale = scale

    def build_transform(self, channels: int,
                        size: Tuple[int, int]) -> v2.Compose:
        """The augmentation for ``channels x size`` images."""
        brightness, contrast, saturation, hue = self.jitter
        colour = channels == 3
        steps = [
            v2.RandomResizedCrop(size, scale=self.crop_scale,
                                 antialias=True),
            v2.RandomHorizontalFlip(self.flip_prob),
            v2.RandomApply([
                v2.ColorJitter(brightness, contrast,
                               saturation if colour else 0,
                               hue if colour else 0)
            ], p=self.jitter_prob),
        ]
        if colour:
            steps.append(v2.RandomGrayscale(self.grayscale_prob))
        if self.blur_sigma is not None:
            kernel = 2 * int(0.05 * min(size)) + 1
            steps.append(v2.GaussianBlur(kernel, sigma=self.blur_sigma))
        return v2.Compose(steps)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f'AugmentedPixelRepresentation: images have '
                f'{images.shape[1]} channels, mean/std {self.mean.shape[0]}.')
        x = images.detach().float()
        if not self.augment_normalized:
            x = (x * self.std + self.mean).clamp(0, 1)
        transform = self.build_transform(x.shape[1], tuple(x.shape[-2:]))
        if self.per_sample:
            out = torch.stack([transform(image) for image in x])
        else:
            out = transform(x)
        if not self.augment_normalized:
            out = (out - self.mean) / self.std
        return out * self.scale
