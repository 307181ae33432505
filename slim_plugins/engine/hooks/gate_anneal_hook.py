# Copyright (c) slim_plugins contributors. All rights reserved.
"""Anneal the per-block density bounds of a gated network by epoch."""
import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from slim_plugins.registry import HOOKS


@HOOKS.register_module()
class GateAnnealHook(Hook):
    """Set ``p = exp(-alpha * epoch)`` on the model before every epoch.

    The schedule of `Unification (BMVC 2023)
    <https://arxiv.org/abs/2301.09164>`_ for
    :class:`~slim_plugins.models.losses.BlockDensityBoundLoss` (``p`` 1 at
    the start, 0.37 at epoch 50 with ``alpha`` 0.02). With
    ``warmup_gate_epochs = W`` the first ``W`` epochs train the dense path
    only (no gated pass, no budget losses) and ``p`` counts from epoch
    ``W``. The model must have ``set_gate_schedule(p, gates_on)`` (e.g.
    :class:`~slim_plugins.models.algorithms.DualBranchVICReg`).

    Args:
        alpha (float): Decay rate, ``>= 0``. Defaults to 0.02.
        warmup_gate_epochs (int): Dense-only epochs first. Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(self, alpha: float = 0.02,
                 warmup_gate_epochs: int = 0) -> None:
        if isinstance(alpha, bool) or not isinstance(
                alpha, (int, float)) or alpha < 0:
            raise ValueError(f'GateAnnealHook: alpha={alpha!r} must be a '
                             f'number >= 0.')
        if isinstance(warmup_gate_epochs, bool) or not isinstance(
                warmup_gate_epochs, int) or warmup_gate_epochs < 0:
            raise ValueError(f'GateAnnealHook: warmup_gate_epochs='
                             f'{warmup_gate_epochs!r} must be an int >= 0.')
        self.alpha = float(alpha)
        self.warmup_gate_epochs = warmup_gate_epochs

    def schedule(self, epoch: int) -> tuple:
        """``(p, gates_on)`` of an epoch."""
        gates_on = epoch >= self.warmup_gate_epochs
        p = math.exp(-self.alpha * max(0, epoch - self.warmup_gate_epochs))
        return p, gates_on

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'set_gate_schedule'):
            raise TypeError(f'GateAnnealHook: {type(model).__name__} has no '
                            f'set_gate_schedule(p, gates_on); use it with a '
                            f'gated algorithm such as DualBranchVICReg.')

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        p, gates_on = self.schedule(runner.epoch)
        model.set_gate_schedule(p, gates_on)
        runner.message_hub.update_scalar('train/gate_bound_p', p)
