# Copyright (c) slim_plugins contributors. All rights reserved.
"""Cosine learning rate whose amplitude is re-based at the slow start."""
import math
from typing import List, Optional, Union

from mmengine.optim import BaseOptimWrapper
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from torch.optim import Optimizer

from slim_plugins.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class SlowStartCosineLR(_ParamScheduler):
    """Warmup + cosine LR, re-based to a new amplitude at the slow start.

    The schedule of SlimCLR (`Zhao et al., IJCV 2024
    <https://arxiv.org/abs/2209.15525>`_): with ``T`` the step since
    ``begin``, ``T_w`` the warmup length, ``T_tot = end - begin`` and ``A``
    the amplitude,

    * ``T < T_w``: ``lr = s + (A - s) * T / T_w`` (linear warmup from
      ``s = warmup_start_lr``);
    * ``T >= T_w``: ``lr = max(min_lr, A / 2 * (1 + cos(pi (T - T_w) /
      (T_tot - T_w))))``.

    ``A`` is the optimizer's LR before step ``slow_start`` and
    ``post_slow_start_lr`` from it on, so the cosine keeps its phase and
    only its amplitude changes (a jump at ``slow_start``). The reference
    implementation re-bases the amplitude the same way but takes the new
    value from a command-line default (1e-4) that its MoCo v2 scripts never
    set, which collapses the LR when the sub-networks start; here the value
    is explicit and required.

    With several parameter groups the amplitude of group ``g`` becomes
    ``lr_g * post_slow_start_lr / max_g(lr_g)``: the group with the largest
    LR gets exactly ``post_slow_start_lr`` and the ratios between groups are
    kept. ``post_slow_start_lr`` is absolute, so ``auto_scale_lr`` does not
    scale it.

    The value is computed in closed form from the step count (the LR is set,
    not multiplied), so do not chain another LR scheduler over the same
    steps. ``begin``, ``end``, ``warmup`` and ``slow_start`` are in the
    scheduler's unit: epochs with ``by_epoch=True``, iterations otherwise;
    ``convert_to_iter_based=True`` converts all four, which gives the
    per-iteration schedule of the paper from an epoch-based config.

    Args:
        optimizer (Optimizer | BaseOptimWrapper): Wrapped optimizer.
        post_slow_start_lr (float): Amplitude from ``slow_start`` on.
        slow_start (float): Step (same unit and origin as ``begin``) at
            which the amplitude changes; use the ``start_epoch`` of the
            :class:`~slim_plugins.engine.samplers.SlowStartSampler`.
        warmup (float): Warmup length in steps from ``begin``. Defaults
            to 0.
        warmup_start_lr (float): LR at the first step of the warmup.
            Defaults to 1e-8.
        min_lr (float): Floor of the cosine part. Defaults to 1e-8.
        begin (int): First step of the schedule. Defaults to 0.
        end (int): Step after the last one; must be finite (the runner fills
            in the length of training when it is left out of the config).
            Defaults to INF.
        last_step (int): Index of the last step, for resuming without a
            state dict. Defaults to -1.
        by_epoch (bool): Whether the steps are epochs. Defaults to True.
        verbose (bool): Print the LR of every update. Defaults to False.

    Example:
        >>> param_scheduler = dict(
        ...     type='SlowStartCosineLR', warmup=10, slow_start=100,
        ...     post_slow_start_lr=0.05, begin=0, end=200, by_epoch=True,
        ...     convert_to_iter_based=True)
    """

    def __init__(self,
                 optimizer: Union[Optimizer, BaseOptimWrapper],
                 post_slow_start_lr: float,
                 slow_start: float,
                 warmup: float = 0,
                 warmup_start_lr: float = 1e-8,
                 min_lr: float = 1e-8,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        owner = type(self).__name__
        if end == INF or not math.isfinite(end):
            raise ValueError(f'{owner} needs a finite `end` (the length of '
                             f'the cosine); set end=max_epochs (or '
                             f'max_iters) in the param_scheduler config.')
        for name, value in (('post_slow_start_lr', post_slow_start_lr),
                            ('warmup_start_lr', warmup_start_lr), ('min_lr',
                                                                   min_lr)):
            if isinstance(
                    value,
                    bool) or not isinstance(value,
                                            (int, float)) or not value >= 0:
                raise ValueError(f'{owner}: {name}={value!r} must be a '
                                 f'number >= 0.')
        length = end - begin
        if not 0 <= warmup < length:
            raise ValueError(f'{owner}: warmup={warmup} must lie in '
                             f'[0, end - begin) = [0, {length}).')
        if not begin <= slow_start <= end:
            raise ValueError(f'{owner}: slow_start={slow_start} must lie in '
                             f'[begin, end] = [{begin}, {end}]; use the '
                             f'start_epoch of the SlowStartSampler.')
        self.post_slow_start_lr = float(post_slow_start_lr)
        self.slow_start = slow_start
        self.warmup = warmup
        self.warmup_start_lr = float(warmup_start_lr)
        self.min_lr = float(min_lr)
        super().__init__(
            optimizer,
            'lr',
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls,
                              *args,
                              slow_start: float,
                              warmup: float = 0,
                              begin: int = 0,
                              end: int = INF,
                              by_epoch: bool = True,
                              epoch_length: Optional[int] = None,
                              **kwargs) -> 'SlowStartCosineLR':
        """Build the iteration-based scheduler from an epoch-based config.

        ``begin``, ``end``, ``warmup`` and ``slow_start`` are multiplied by
        ``epoch_length``.
        """
        if not by_epoch:
            raise ValueError(f'{cls.__name__}: convert_to_iter_based needs '
                             f'an epoch-based config (by_epoch=True).')
        if epoch_length is None or epoch_length <= 0:
            raise ValueError(f'{cls.__name__}: epoch_length must be a '
                             f'positive int, got {epoch_length!r}.')
        if end != INF:
            end = int(end * epoch_length)
        return cls(
            *args,
            slow_start=slow_start * epoch_length,
            warmup=warmup * epoch_length,
            begin=int(begin * epoch_length),
            end=end,
            by_epoch=False,
            **kwargs)

    def lr_at(self, step: int, base_lr: float) -> float:
        """LR of a group whose optimizer LR is ``base_lr`` at ``step``.

        Args:
            step (int): Steps since ``begin`` (0 at ``begin``).
            base_lr (float): The group's initial LR.

        Returns:
            float: The scheduled LR.
        """
        amplitude = base_lr
        if self.begin + step >= self.slow_start:
            amplitude = base_lr * self._post_factor()
        if step < self.warmup:
            # lr = s + (A - s) * T / T_w
            return self.warmup_start_lr + (
                amplitude - self.warmup_start_lr) * step / self.warmup
        length = self.end - self.begin
        progress = (step - self.warmup) / (length - self.warmup)
        # lr = max(min_lr, A / 2 * (1 + cos(pi (T - T_w) / (T_tot - T_w))))
        return max(self.min_lr,
                   0.5 * amplitude * (1 + math.cos(math.pi * progress)))

    def _post_factor(self) -> float:
        reference = max(self.base_values)
        if reference <= 0:
            raise ValueError(f'{type(self).__name__}: the optimizer LR is '
                             f'{reference}; the post-slow-start amplitude '
                             f'is relative to it and needs it > 0.')
        return self.post_slow_start_lr / reference

    def _get_value(self) -> List[float]:
        """The LR of every parameter group at ``self.last_step``."""
        return [self.lr_at(self.last_step, base) for base in self.base_values]
