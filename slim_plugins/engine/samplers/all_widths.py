# Copyright (c) slim_plugins contributors. All rights reserved.
from typing import List, Optional, Sequence

from slim_plugins.registry import WIDTH_SAMPLERS
from .base import BaseWidthSampler, check_epoch, check_widths


@WIDTH_SAMPLERS.register_module()
class AllWidthsSampler(BaseWidthSampler):
    """Train every width of a fixed list at every step.

    This is the sampling of SlimCLR (`Zhao et al., IJCV 2024
    <https://arxiv.org/abs/2209.15525>`_) and of slimmable networks with a
    discrete width set: no randomness, the list is returned as given, sorted
    high to low.

    Args:
        widths (Sequence[float]): Distinct widths in ``(0, 1]``.
        seed (int): Unused (no random draws); kept for a uniform interface.
            Defaults to 0.

    Example:
        >>> sampler = AllWidthsSampler([0.25, 1.0, 0.5, 0.75])
        >>> sampler.sample(epoch=3, max_epochs=100)
        [1.0, 0.75, 0.5, 0.25]
    """

    def __init__(self, widths: Sequence[float], seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.widths = check_widths(widths, type(self).__name__)

    @property
    def max_width(self) -> float:
        return self.widths[0]

    def sample(self,
               epoch: float = 0,
               max_epochs: Optional[int] = None) -> List[float]:
        """Return all widths, sorted high to low.

        Args:
            epoch (float): Current epoch (only validated). Defaults to 0.
            max_epochs (int, optional): Unused.

        Returns:
            List[float]: A copy of the width list.
        """
        check_epoch(epoch, type(self).__name__)
        return list(self.widths)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(widths={self.widths})'
