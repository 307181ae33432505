# Copyright (c) slim_plugins contributors. All rights reserved.
"""How often each gated channel is on over a set of images."""
from typing import Iterable, List, NamedTuple

import torch
import torch.nn as nn

from slim_plugins.ops import using_gate_path


class GateUsage(NamedTuple):
    """Per block, how many images turned each intermediate channel on.

    Args:
        on_counts (list[Tensor]): One ``C_mid`` int64 tensor per block.
        num_images (int): Images seen.
    """
    on_counts: List[torch.Tensor]
    num_images: int

    def always_off(self, block: int) -> torch.Tensor:
        """Mask of the channels no image turned on."""
        return self.on_counts[block] == 0

    def always_on(self, block: int) -> torch.Tensor:
        """Mask of the channels every image turned on."""
        return self.on_counts[block] == self.num_images

    def data_dependent(self, block: int) -> torch.Tensor:
        """Mask of the channels some but not all images turned on."""
        return ~(self.always_off(block) | self.always_on(block))


@torch.no_grad()
def collect_gate_usage(backbone: nn.Module,
                       batches: Iterable[torch.Tensor]) -> GateUsage:
    """Run ``backbone``'s gated path on ``batches`` and count active
    channels.

    The backbone is put in eval mode (deterministic gates) and its training
    mode and path are restored afterwards.

    Args:
        backbone (nn.Module): A gated backbone (``GatedResNet``).
        batches (Iterable[Tensor]): Preprocessed image batches.

    Returns:
        GateUsage: The counts and the number of images.
    """
    was_training = backbone.training
    backbone.eval()
    counts = None
    images = 0
    try:
        with using_gate_path(backbone, 'gated'):
            for inputs in batches:
                backbone(inputs)
                masks = backbone.gate_stats().masks
                sums = [m.sum(dim=0).round().long().cpu() for m in masks]
                counts = sums if counts is None else [
                    c + s for c, s in zip(counts, sums)
                ]
                images += inputs.shape[0]
    finally:
        backbone.train(was_training)
    if counts is None:
        raise ValueError('collect_gate_usage: no images were given.')
    return GateUsage(counts, images)
