# Copyright (c) slim_plugins contributors. All rights reserved.
"""Restricted checkpoint loading for a whole run, whichever tool starts it."""
import contextlib
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner import Runner

from slim_plugins.registry import HOOKS
from slim_plugins.utils.bn_calibration import BANK_NAME
from slim_plugins.utils.checkpoint import checkpoint_loading


@HOOKS.register_module()
class CheckpointLoadingHook(Hook):
    """Route the run's checkpoint loads through the package's loader.

    From ``before_run`` (which mmengine calls before ``init_cfg`` weights,
    ``load_from`` and ``resume`` are loaded) to ``after_run``, mmengine's
    local checkpoint loader is :func:`slim_plugins.utils.checkpoint.
    load_checkpoint_file` (see :func:`~slim_plugins.utils.checkpoint.
    checkpoint_loading`): runner checkpoints, with their log buffers and
    numpy values, load under torch's restricted unpickler without any
    process-wide allow-list, and a hostile or broken file is refused with an
    error that names it. ``tools/train.py`` and ``tools/test.py`` do the same
    around their work; the hook covers runs started by other tools
    (mmpretrain's ``tools/train.py`` with these configs, a notebook).

    It also checks that a checkpoint the runner loads (``load_from``,
    ``resume``) fits the model before any of it is used: mmengine loads
    non-strictly and only logs what did not fit, so a checkpoint of another
    architecture or depth would silently leave random weights.

    Args:
        allow_partial (bool): Accept missing and unexpected keys (e.g. a
            fine-tuning ``load_from`` of another head), listed in a warning;
            shapes must still match. Defaults to False.
    """

    priority = 'HIGHEST'

    def __init__(self, allow_partial: bool = False) -> None:
        self._stack: Optional[contextlib.ExitStack] = None
        self.allow_partial = allow_partial

    def before_run(self, runner: Runner) -> None:
        """Install the loader for the run."""
        self.after_run(runner)
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(checkpoint_loading())

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """Refuse a checkpoint that does not fit the model."""
        model = runner.model
        # DDP wrappers and test-time-augmentation models keep the real model
        # in `.module`, which is where mmengine loads the weights.
        if is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        state = checkpoint.get('state_dict', checkpoint)
        state = {
            key[len('module.'):] if key.startswith('module.') else key: value
            for key, value in state.items()
        }
        own = model.state_dict()
        # Calibrated statistics live in a bank that takes whatever widths
        # the file holds (created on load): not part of the architecture.
        own, state = (
            {k: v
             for k, v in d.items() if f'.{BANK_NAME}.' not in f'.{k}'}
            for d in (own, state))
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        shapes = [
            f'{key}: {tuple(value.shape)} in the file, '
            f'{tuple(own[key].shape)} in the model'
            for key, value in state.items() if key in own
            and hasattr(value, 'shape') and value.shape != own[key].shape
        ]
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        problems = []
        if shapes:
            problems.append(f'{len(shapes)} shape mismatch(es): ' +
                            '; '.join(shapes[:5]))
        if not set(state) & set(own):
            problems.append('no key in common with the model (first keys: '
                            f'{list(state)[:3]})')
        partial = [f'{len(keys)} {kind} key(s): {keys[:5]}'
                   for kind, keys in (('missing', missing),
                                      ('unexpected', unexpected)) if keys]
        if partial and self.allow_partial and not problems:
            runner.logger.warning(f'{source} fits the model partially: ' +
                                  '; '.join(partial))
            return
        problems += partial
        if problems:
            raise ValueError(
                f'{source} does not fit {type(model).__name__}: ' +
                '; '.join(problems) + '. It comes from another architecture '
                'or depth (check the config), or set '
                'default_hooks.checkpoint_loading.allow_partial=True to load '
                'the keys that fit.')

    def after_run(self, runner: Runner) -> None:
        """Put mmengine's previous loader back."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
