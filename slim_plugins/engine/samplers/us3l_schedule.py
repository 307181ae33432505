# Copyright (c) slim_plugins contributors. All rights reserved.
import math
from typing import List, Optional, Sequence

from slim_plugins.registry import WIDTH_SAMPLERS
from .base import (BaseWidthSampler, check_epoch, check_max_epochs,
                   check_num_samples, check_width_range)

NUM_STAGES = 4


@WIDTH_SAMPLERS.register_module()
class US3LScheduleSampler(BaseWidthSampler):
    """US3L dynamic width sampling (scheduler "A"), sandwich on or off.

    From US3L (`Cao et al., CVPR 2023 <https://arxiv.org/abs/2303.06870>`_).
    The schedule splits training into four quarters of
    ``q = max_epochs // 4`` epochs. In stage
    ``k = epoch // q + 1`` the widths are drawn from ``[w_lo, w_max]`` with

    * ``k = 1``: ``w_lo = w_max`` -> only the full network, ``[w_max]``;
    * ``k = 2, 3, 4``: ``w_lo = w_min + (4 - k) (w_max - w_min) / 3``, i.e.
      with ``(0.25, 1.0)`` the ranges ``[0.75, 1]``, ``[0.5, 1]``,
      ``[0.25, 1]``.

    Within a stage the widths follow the sandwich rule (``[w_max, w_lo]`` +
    ``num_samples - 2`` uniform draws, see :class:`SandwichSampler`) or, with
    ``sandwich=False``, ``num_samples`` uniform draws (the largest draw is
    the teacher branch, see :class:`RandomSampler`).

    **Stage overflow.** When ``max_epochs % 4 != 0`` the last
    ``max_epochs % 4`` epochs have ``epoch // q + 1 = 5``. The original code
    does not clamp the stage and so uses ``w_lo = w_min - (w_max - w_min) /
    3`` there (``0.0`` for ``(0.25, 1.0)``: e.g. epochs 96-98 of a 99-epoch
    run train a width-0 network, which its channel rule turns into one
    channel per layer). That is a bug, and this sampler always clamps the
    stage to 4 (the full range). It offers no flag to reproduce it: every
    slim layer here refuses a width outside ``(0, 1]``, so a width-0 step
    could not run; the shipped configs use ``max_epochs % 4 == 0``, where
    the two agree.

    **Short schedules.** The schedule needs ``max_epochs >= 4`` (one epoch
    per stage); a shorter one would make ``q = 0``. It raises
    ``ValueError``: use :class:`SandwichSampler` for such runs.

    Args:
        width_range (Sequence[float]): ``(w_min, w_max)`` with
            ``0 < w_min < w_max <= 1``. Defaults to ``(0.25, 1.0)``.
        num_samples (int): Widths per step from stage 2 on; ``>= 2`` with
            sandwich, ``>= 1`` without. Defaults to 3.
        sandwich (bool): Use the sandwich rule. Defaults to True (all
            shipped US3L configs).
        seed (int): Seed of the sampler's random generator (same on every
            rank). Defaults to 0.

    Example:
        >>> sampler = US3LScheduleSampler((0.25, 1.0), num_samples=3)
        >>> sampler.sample(epoch=10, max_epochs=400)
        [1.0]
        >>> sampler.lower_bound(epoch=150, max_epochs=400)
        0.75
    """

    def __init__(self,
                 width_range: Sequence[float] = (0.25, 1.0),
                 num_samples: int = 3,
                 sandwich: bool = True,
                 seed: int = 0) -> None:
        super().__init__(seed=seed)
        owner = type(self).__name__
        self.width_range = check_width_range(width_range, owner)
        self.sandwich = bool(sandwich)
        if self.sandwich:
            why = ('the sandwich rule trains the largest and the smallest '
                   'width; set sandwich=False for a single width')
            self.num_samples = check_num_samples(num_samples, 2, owner, why)
        else:
            self.num_samples = check_num_samples(
                num_samples, 1, owner, 'a step trains one width '
                'at least')

    @property
    def max_width(self) -> float:
        return self.width_range[1]

    def check_schedule(self, max_epochs: int) -> None:
        """Raise ``ValueError`` unless ``max_epochs >= 4``.

        Args:
            max_epochs (int): Length of the schedule in epochs.
        """
        owner = type(self).__name__
        check_max_epochs(max_epochs, owner)
        if max_epochs < NUM_STAGES:
            raise ValueError(
                f'{owner}: max_epochs={max_epochs} is too short for the '
                f'{NUM_STAGES}-stage US3L schedule (q = max_epochs // '
                f'{NUM_STAGES} would be 0); train for >= {NUM_STAGES} '
                f'epochs or use SandwichSampler / RandomSampler.')

    def stage(self, epoch: float, max_epochs: int) -> int:
        """The stage ``k`` of ``epoch``: 1..4 (clamped, see above).

        Args:
            epoch (float): Current 0-based epoch (floored if fractional).
            max_epochs (int): Length of the schedule in epochs.

        Returns:
            int: The stage index.
        """
        epoch = check_epoch(epoch, type(self).__name__)
        self.check_schedule(max_epochs)
        quarter = max_epochs // NUM_STAGES
        # q = E // 4, k = e // q + 1
        return min(int(math.floor(epoch)) // quarter + 1, NUM_STAGES)

    def lower_bound(self, epoch: float, max_epochs: int) -> float:
        """The smallest width ``w_lo`` that may be sampled at ``epoch``.

        Args:
            epoch (float): Current 0-based epoch.
            max_epochs (int): Length of the schedule in epochs.

        Returns:
            float: ``w_lo``.
        """
        stage = self.stage(epoch, max_epochs)
        low, high = self.width_range
        if stage == 1:
            return high
        # w_lo = w_min + (4 - k) * (w_max - w_min) / 3
        return low + (NUM_STAGES - stage) * (high - low) / (NUM_STAGES - 1)

    def sample(self,
               epoch: float = 0,
               max_epochs: Optional[int] = None) -> List[float]:
        """Widths of one iteration at ``epoch`` of a ``max_epochs`` run.

        Args:
            epoch (float): Current 0-based epoch. Defaults to 0.
            max_epochs (int): Length of the schedule in epochs (required).

        Returns:
            List[float]: Distinct widths sorted high to low; ``[w_max]`` in
            the first stage.
        """
        check_max_epochs(max_epochs, type(self).__name__)
        low = self.lower_bound(epoch, max_epochs)
        return self._sample_in_range(low, self.width_range[1],
                                     self.num_samples, self.sandwich)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(width_range={self.width_range}, '
                f'num_samples={self.num_samples}, sandwich={self.sandwich}, '
                f'seed={self.seed})')
