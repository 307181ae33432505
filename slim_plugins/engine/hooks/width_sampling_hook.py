# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hook choosing the widths of every training iteration."""
import math
from typing import Optional, Tuple, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from slim_plugins.engine.samplers import BaseWidthSampler
from slim_plugins.ops import slim_ops
from slim_plugins.registry import HOOKS, WIDTH_SAMPLERS

DATA_BATCH = Optional[Union[dict, tuple, list]]


@HOOKS.register_module()
class WidthSamplingHook(Hook):
    """Set the widths of each iteration from the training progress.

    Before every training iteration the sampler is asked for the widths at
    the current (fractional) epoch, and they are handed to the model's
    multi-width step with ``model.set_train_widths``. The smallest and
    largest width and their number are logged as ``width_min``,
    ``width_max`` and ``num_widths``. The sampler's random state is saved in
    checkpoints and restored on resume, so a resumed run samples the same
    widths as an uninterrupted one.

    Args:
        sampler (dict | BaseWidthSampler): A sampler or its config in the
            ``WIDTH_SAMPLERS`` registry.
        check_widths_with (str): Attribute of the model whose width state
            validates the sampler's widths before training (so a width the
            backbone cannot run fails before the first iteration).
    """

    priority = 'HIGH'

    def __init__(self,
                 sampler: Union[dict, BaseWidthSampler],
                 check_widths_with: str = 'backbone') -> None:
        if isinstance(sampler, dict):
            sampler = WIDTH_SAMPLERS.build(sampler)
        if not isinstance(sampler, BaseWidthSampler):
            raise TypeError(f'WidthSamplingHook needs a width sampler, got '
                            f'{type(sampler).__name__}.')
        self.sampler = sampler
        self.check_widths_with = check_widths_with

    @staticmethod
    def _model(runner: Runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _progress(runner: Runner, batch_idx: int) -> Tuple[float, int]:
        """Fractional epoch and schedule length in epochs."""
        iters_per_epoch = max(len(runner.train_dataloader), 1)
        if runner.train_loop.__class__.__name__.startswith('IterBased'):
            max_epochs = max(1, math.ceil(runner.max_iters / iters_per_epoch))
            return runner.iter / iters_per_epoch, max_epochs
        return runner.epoch + batch_idx / iters_per_epoch, runner.max_epochs

    def before_train(self, runner: Runner) -> None:
        """Check the sampler against the schedule and the model's widths."""
        model = self._model(runner)
        if not hasattr(model, 'set_train_widths'):
            raise TypeError(
                f'WidthSamplingHook drives models with a multi-width train '
                f'step (set_train_widths), but the model is '
                f'{type(model).__name__}.')
        _, max_epochs = self._progress(runner, 0)
        self.sampler.check_schedule(max_epochs)
        target = getattr(model, self.check_widths_with, model)
        states = {id(op.width_state): op.width_state
                  for op in slim_ops(target)}
        # A model may constrain whole width lists too (SlimCLR trains the
        # full width alone or all of its widths).
        check_step = getattr(model, 'check_train_widths', None)
        if not states and check_step is None:
            return
        # Probe the schedule without consuming the sampler's randomness.
        saved = self.sampler.state_dict()
        try:
            for epoch in sorted({0, max_epochs / 4, max_epochs / 2,
                                 3 * max_epochs / 4, max_epochs - 1}):
                widths = self.sampler.sample(epoch, max_epochs)
                for width in widths:
                    for state in states.values():
                        state.check(width)
                if check_step is not None:
                    check_step(widths)
        finally:
            self.sampler.load_state_dict(saved)

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        """Sample this iteration's widths and give them to the model."""
        epoch, max_epochs = self._progress(runner, batch_idx)
        widths = self.sampler.sample(epoch, max_epochs)
        self._model(runner).set_train_widths(widths)
        hub = runner.message_hub
        hub.update_scalar('train/width_max', max(widths))
        hub.update_scalar('train/width_min', min(widths))
        hub.update_scalar('train/num_widths', len(widths))

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        checkpoint['width_sampler'] = self.sampler.state_dict()

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        if 'width_sampler' in checkpoint:
            self.sampler.load_state_dict(checkpoint['width_sampler'])
