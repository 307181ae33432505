# Copyright (c) slim_plugins contributors. All rights reserved.
"""The width-sampler interface and the checks shared by every sampler.

A width sampler decides, once per training iteration, which widths of a
slimmable network are trained. It is a plain Python object (no runner, no
model): the hook that drives it only calls :meth:`BaseWidthSampler.sample`
with the current epoch and the length of the schedule, and saves
:meth:`BaseWidthSampler.state_dict` in the checkpoint so that a resumed run
draws the same widths as an uninterrupted one.

Every rank of a distributed run must train the same widths in a step, so all
ranks build the sampler with the *same* seed and call ``sample`` the same
number of times.
"""
import math
import random
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, List, Optional, Sequence, Tuple

WidthRange = Tuple[float, float]


def check_widths(widths: Sequence[float], owner: str) -> List[float]:
    """Validate a list of widths and return it sorted high to low.

    Args:
        widths (Sequence[float]): Width multipliers, each in ``(0, 1]``.
        owner (str): Name of the caller, used in error messages.

    Returns:
        List[float]: The widths as floats, sorted descending.
    """
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f'{owner}: `widths` must be a sequence of floats, '
                        f'got {type(widths).__name__} ({widths!r}).')
    if len(widths) == 0:
        raise ValueError(f'{owner}: `widths` is empty; give at least one '
                         f'width in (0, 1], e.g. widths=[1.0, 0.5].')
    values = [float(w) for w in widths]
    for w in values:
        if not math.isfinite(w) or w <= 0 or w > 1:
            raise ValueError(f'{owner}: width {w} in widths={list(widths)} '
                             f'is outside (0, 1]; change it in the sampler '
                             f'config.')
    if len(set(values)) != len(values):
        raise ValueError(f'{owner}: widths={list(widths)} has duplicates; '
                         f'each width is trained once per step, list it '
                         f'once.')
    return sorted(values, reverse=True)


def check_width_range(width_range: Sequence[float], owner: str) -> WidthRange:
    """Validate ``(w_min, w_max)`` with ``0 < w_min < w_max <= 1``.

    Args:
        width_range (Sequence[float]): Lower and upper width.
        owner (str): Name of the caller, used in error messages.

    Returns:
        Tuple[float, float]: ``(w_min, w_max)`` as floats.
    """
    if isinstance(width_range, (str, bytes)) or not isinstance(
            width_range, Sequence) or len(width_range) != 2:
        raise TypeError(f'{owner}: `width_range` must be a pair '
                        f'(w_min, w_max), got {width_range!r}.')
    low, high = float(width_range[0]), float(width_range[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f'{owner}: width_range={tuple(width_range)} must '
                         f'be finite.')
    if not 0 < low < high <= 1:
        raise ValueError(f'{owner}: width_range={tuple(width_range)} must '
                         f'satisfy 0 < w_min < w_max <= 1; fix '
                         f'`width_range` in the sampler config (for a '
                         f'single width use AllWidthsSampler).')
    return low, high


def check_num_samples(num_samples: int, minimum: int, owner: str,
                      why: str) -> int:
    """Validate a number of widths per step (an int ``>= minimum``)."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int):
        raise TypeError(f'{owner}: `num_samples` must be an int, got '
                        f'{num_samples!r}.')
    if num_samples < minimum:
        raise ValueError(f'{owner}: num_samples={num_samples} must be >= '
                         f'{minimum} ({why}); change `num_samples` in the '
                         f'sampler config.')
    return num_samples


def check_epoch(epoch: float, owner: str) -> float:
    """Validate a (possibly fractional) epoch index ``>= 0``."""
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        raise TypeError(f'{owner}: `epoch` must be a number, got '
                        f'{type(epoch).__name__}.')
    if not math.isfinite(epoch) or epoch < 0:
        raise ValueError(f'{owner}: epoch={epoch} must be >= 0 (0-based, '
                         f'as `runner.epoch`).')
    return float(epoch)


def check_max_epochs(max_epochs: Optional[int], owner: str) -> int:
    """Validate the schedule length (a positive integer)."""
    if max_epochs is None:
        raise ValueError(f'{owner} follows the training schedule: call '
                         f'`sample(epoch, max_epochs)` with `max_epochs` '
                         f'(e.g. `runner.max_epochs`).')
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int):
        raise TypeError(f'{owner}: `max_epochs` must be an int, got '
                        f'{max_epochs!r}.')
    if max_epochs <= 0:
        raise ValueError(f'{owner}: max_epochs={max_epochs} must be > 0.')
    return max_epochs


class BaseWidthSampler(metaclass=ABCMeta):
    """Base class of width samplers.

    Subclasses implement :meth:`sample` and :attr:`max_width`. Random draws
    must go through :attr:`rng` (a :class:`random.Random` seeded with
    ``seed``) so that :meth:`state_dict` / :meth:`load_state_dict` capture
    the whole state of the sequence.

    Args:
        seed (int): Seed of the sampler's private random generator. Use the
            same value on every rank. Defaults to 0.
    """

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f'{type(self).__name__}: `seed` must be an int, '
                            f'got {seed!r}.')
        self.seed = seed
        self.rng = random.Random(seed)

    @property
    @abstractmethod
    def max_width(self) -> float:
        """The largest width this sampler can return (the teacher width)."""

    @abstractmethod
    def sample(self,
               epoch: float = 0,
               max_epochs: Optional[int] = None) -> List[float]:
        """Widths to train in one iteration.

        Args:
            epoch (float): Current 0-based epoch; may be fractional
                (``epoch + iter / iters_per_epoch``). Defaults to 0.
            max_epochs (int, optional): Length of the schedule in epochs.
                Required by the samplers that follow the schedule.

        Returns:
            List[float]: Distinct widths in ``(0, 1]`` sorted high to low;
            the first one is the step's teacher branch.
        """

    def check_schedule(self, max_epochs: int) -> None:
        """Raise ``ValueError`` if the sampler cannot run ``max_epochs``.

        Hooks call it once before training so that a bad config fails
        before the first iteration. The base implementation only checks
        ``max_epochs`` itself.

        Args:
            max_epochs (int): Length of the schedule in epochs.
        """
        check_max_epochs(max_epochs, type(self).__name__)

    def state_dict(self) -> Dict[str, Any]:
        """State needed to continue the same sequence after a resume.

        Returns:
            dict: Plain Python values (safe for ``torch.load`` with
            ``weights_only=True``).
        """
        version, internal, gauss_next = self.rng.getstate()
        return dict(
            type=type(self).__name__,
            seed=self.seed,
            rng_state=[version, list(internal), gauss_next])

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
        version, internal, gauss_next = state_dict['rng_state']
        self.rng.setstate((version, tuple(internal), gauss_next))
        self.seed = state_dict.get('seed', self.seed)

    def _uniform_distinct(self,
                          low: float,
                          high: float,
                          num: int,
                          exclude: Sequence[float] = ()) -> List[float]:
        """Draw ``num`` distinct values from ``U(low, high)``.

        Values equal to one in ``exclude`` or to an earlier draw are drawn
        again (a measure-zero event with floats, but it keeps the "distinct
        widths" contract of :meth:`sample` unconditional).
        """
        taken = set(exclude)
        values: List[float] = []
        while len(values) < num:
            value = self.rng.uniform(low, high)
            if value not in taken:
                taken.add(value)
                values.append(value)
        return values

    def _sample_in_range(self, low: float, high: float, num: int,
                         sandwich: bool) -> List[float]:
        """``num`` distinct widths in ``[low, high]``, sorted high to low.

        With ``sandwich`` the list is ``[high, low]`` plus ``num - 2``
        uniform draws; without it, ``num`` uniform draws. ``low == high``
        gives ``[high]`` whatever ``num`` is.
        """
        if low == high:
            return [high]
        if sandwich:
            widths = [high, low] + self._uniform_distinct(
                low, high, num - 2, exclude=(high, low))
        else:
            widths = self._uniform_distinct(low, high, num)
        return sorted(widths, reverse=True)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(seed={self.seed})'
