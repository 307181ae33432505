# Copyright (c) slim_plugins contributors. All rights reserved.
"""Samplers drawing widths uniformly from a continuous range."""
from typing import List, Optional, Sequence

from slim_plugins.registry import WIDTH_SAMPLERS
from .base import (BaseWidthSampler, check_epoch, check_num_samples,
                   check_width_range)


@WIDTH_SAMPLERS.register_module()
class SandwichSampler(BaseWidthSampler):
    """The sandwich rule of universally slimmable networks.

    Each step trains the largest width, the smallest width and
    ``num_samples - 2`` widths drawn uniformly in between (`Yu & Huang,
    ICCV 2019 <https://arxiv.org/abs/1903.05134>`_). The list always has
    exactly ``num_samples`` distinct widths: the reference US3L code returns
    an empty list for ``num_samples=2`` and duplicated widths for
    ``num_samples >= 4``; this class does neither.

    Args:
        width_range (Sequence[float]): ``(w_min, w_max)`` with
            ``0 < w_min < w_max <= 1``. Defaults to ``(0.25, 1.0)``.
        num_samples (int): Widths per step, ``>= 2``. Defaults to 3.
        seed (int): Seed of the sampler's random generator (same on every
            rank). Defaults to 0.

    Example:
        >>> sampler = SandwichSampler((0.25, 1.0), num_samples=3, seed=0)
        >>> widths = sampler.sample(epoch=0)
        >>> widths[0], widths[-1], len(widths)
        (1.0, 0.25, 3)
    """

    def __init__(self,
                 width_range: Sequence[float] = (0.25, 1.0),
                 num_samples: int = 3,
                 seed: int = 0) -> None:
        super().__init__(seed=seed)
        owner = type(self).__name__
        self.width_range = check_width_range(width_range, owner)
        self.num_samples = check_num_samples(
            num_samples, 2, owner, 'the sandwich rule always trains the '
            'largest and the smallest width; use RandomSampler for fewer')

    @property
    def max_width(self) -> float:
        return self.width_range[1]

    def sample(self,
               epoch: float = 0,
               max_epochs: Optional[int] = None) -> List[float]:
        """Return ``[w_max, ..., w_min]`` with ``num_samples`` widths.

        Args:
            epoch (float): Current epoch (only validated). Defaults to 0.
            max_epochs (int, optional): Unused.

        Returns:
            List[float]: Distinct widths sorted high to low.
        """
        check_epoch(epoch, type(self).__name__)
        low, high = self.width_range
        return self._sample_in_range(low, high, self.num_samples, True)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(width_range={self.width_range}, '
                f'num_samples={self.num_samples}, seed={self.seed})')


@WIDTH_SAMPLERS.register_module()
class RandomSampler(BaseWidthSampler):
    """Draw ``num_samples`` widths uniformly from a range (no sandwich).

    Neither the largest nor the smallest width of the range is guaranteed.
    The algorithms treat the *first* (largest) width of the returned list as
    the step's teacher branch, as the US3L reference does with sandwich off
    ("use maximum width in the sample list"), so the teacher branch is in
    general narrower than ``w_max``. :attr:`max_width` is still ``w_max``
    (the widest network the sampler can ask for).

    Args:
        width_range (Sequence[float]): ``(w_min, w_max)`` with
            ``0 < w_min < w_max <= 1``. Defaults to ``(0.25, 1.0)``.
        num_samples (int): Widths per step, ``>= 1``. Defaults to 3.
        seed (int): Seed of the sampler's random generator (same on every
            rank). Defaults to 0.

    Example:
        >>> sampler = RandomSampler((0.25, 1.0), num_samples=2, seed=1)
        >>> len(sampler.sample(epoch=0))
        2
    """

    def __init__(self,
                 width_range: Sequence[float] = (0.25, 1.0),
                 num_samples: int = 3,
                 seed: int = 0) -> None:
        super().__init__(seed=seed)
        owner = type(self).__name__
        self.width_range = check_width_range(width_range, owner)
        self.num_samples = check_num_samples(
            num_samples, 1, owner, 'a step trains one width at least')

    @property
    def max_width(self) -> float:
        return self.width_range[1]

    def sample(self,
               epoch: float = 0,
               max_epochs: Optional[int] = None) -> List[float]:
        """Return ``num_samples`` uniform widths sorted high to low.

        Args:
            epoch (float): Current epoch (only validated). Defaults to 0.
            max_epochs (int, optional): Unused.

        Returns:
            List[float]: Distinct widths sorted high to low.
        """
        check_epoch(epoch, type(self).__name__)
        low, high = self.width_range
        return self._sample_in_range(low, high, self.num_samples, False)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(width_range={self.width_range}, '
                f'num_samples={self.num_samples}, seed={self.seed})')
