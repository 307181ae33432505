# Copyright (c) slim_plugins contributors. All rights reserved.
import math
from typing import Any, Dict, List, Optional, Sequence, Union

from slim_plugins.registry import WIDTH_SAMPLERS
from .all_widths import AllWidthsSampler
from .base import BaseWidthSampler, check_epoch, check_max_epochs


@WIDTH_SAMPLERS.register_module()
class SlowStartSampler(BaseWidthSampler):
    """Train only the largest width until ``start_epoch``, then sub-widths.

    The "slow start" of SlimCLR (`Zhao et al., IJCV 2024
    <https://arxiv.org/abs/2209.15525>`_): sub-networks are off for the
    first ``start_epoch`` epochs (half of training in the paper) and every
    step before that trains ``[sampler.max_width]`` only. From
    ``epoch >= start_epoch`` on (``epoch`` may be fractional) the wrapped
    sampler decides. The wrapped sampler draws nothing during the slow
    start, so its random sequence starts at ``start_epoch``.

    The learning-rate change SlimCLR makes at ``start_epoch`` is not the
    sampler's business; configure it with a parameter scheduler.

    Args:
        sampler (BaseWidthSampler | dict | Sequence[float]): The sampler
            used after the slow start, its config (built from
            ``WIDTH_SAMPLERS``), or a width list (an
            :class:`AllWidthsSampler`).
        start_epoch (float): First epoch with sub-networks, ``>= 0``
            (0 disables the slow start).
        max_epochs (int, optional): Length of the schedule; if given,
            ``start_epoch > max_epochs`` fails here instead of at the first
            :meth:`sample`. Defaults to None.
        seed (int): Unused (the wrapped sampler owns the randomness).
            Defaults to 0.

    Example:
        >>> sampler = SlowStartSampler([1.0, 0.5, 0.25], start_epoch=100)
        >>> sampler.sample(epoch=99.5, max_epochs=200)
        [1.0]
        >>> sampler.sample(epoch=100, max_epochs=200)
        [1.0, 0.5, 0.25]
    """

    def __init__(self,
                 sampler: Union[BaseWidthSampler, Dict[str, Any],
                                Sequence[float]],
                 start_epoch: float,
                 max_epochs: Optional[int] = None,
                 seed: int = 0) -> None:
        super().__init__(seed=seed)
        owner = type(self).__name__
        if isinstance(sampler, BaseWidthSampler):
            self.sampler = sampler
        elif isinstance(sampler, dict):
            self.sampler = WIDTH_SAMPLERS.build(sampler)
        elif not isinstance(sampler,
                            (str, bytes)) and isinstance(sampler, Sequence):
            self.sampler = AllWidthsSampler(sampler)
        else:
            raise TypeError(f'{owner}: `sampler` must be a width sampler, '
                            f'its config dict or a width list, got '
                            f'{type(sampler).__name__}.')
        is_number = isinstance(
            start_epoch, (int, float)) and not isinstance(start_epoch, bool)
        if not is_number or not math.isfinite(start_epoch) or start_epoch < 0:
            raise ValueError(f'{owner}: start_epoch={start_epoch!r} must be '
                             f'a number >= 0 (0 disables the slow start).')
        self.start_epoch = start_epoch
        if max_epochs is not None:
            self.check_schedule(max_epochs)

    @property
    def max_width(self) -> float:
        return self.sampler.max_width

    def check_schedule(self, max_epochs: int) -> None:
        """Raise ``ValueError`` if ``start_epoch > max_epochs``.

        Also checks the wrapped sampler's schedule.

        Args:
            max_epochs (int): Length of the schedule in epochs.
        """
        owner = type(self).__name__
        check_max_epochs(max_epochs, owner)
        if self.start_epoch > max_epochs:
            raise ValueError(
                f'{owner}: start_epoch={self.start_epoch} is beyond '
                f'max_epochs={max_epochs}, so sub-networks would never be '
                f'trained; lower `start_epoch` (SlimCLR uses '
                f'max_epochs / 2).')
        self.sampler.check_schedule(max_epochs)

    def is_started(self, epoch: float) -> bool:
        """Whether sub-networks are trained at ``epoch``."""
        return check_epoch(epoch, type(self).__name__) >= self.start_epoch

    def sample(self,
               epoch: float = 0,
               max_epochs: Optional[int] = None) -> List[float]:
        """``[max_width]`` before ``start_epoch``, then the wrapped sampler.

        Args:
            epoch (float): Current 0-based epoch, may be fractional.
                Defaults to 0.
            max_epochs (int, optional): Length of the schedule; checked
                against ``start_epoch`` when given, and passed on.

        Returns:
            List[float]: Distinct widths sorted high to low.
        """
        if max_epochs is not None:
            self.check_schedule(max_epochs)
        if not self.is_started(epoch):
            return [self.max_width]
        return self.sampler.sample(epoch, max_epochs)

    def state_dict(self) -> Dict[str, Any]:
        """The wrapped sampler's state (see the base class).

        Returns:
            dict: Plain Python values.
        """
        return dict(
            type=type(self).__name__, sampler=self.sampler.state_dict())

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`.

        Args:
            state_dict (dict): The saved state.
        """
        saved_type = state_dict.get('type', type(self).__name__)
        if saved_type != type(self).__name__:
            raise ValueError(f'{type(self).__name__} cannot load the state '
                             f'of a {saved_type}; the sampler config '
                             f'changed since the checkpoint was saved.')
        self.sampler.load_state_dict(state_dict['sampler'])

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(sampler={self.sampler!r}, '
                f'start_epoch={self.start_epoch})')
