# Copyright (c) slim_plugins contributors. All rights reserved.
"""Restricted checkpoint loading for a whole run, whichever tool starts it."""
import contextlib
from typing import Optional

from mmengine.hooks import Hook
from mmengine.runner import Runner

from slim_plugins.registry import HOOKS
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
    """

    priority = 'HIGHEST'

    def __init__(self) -> None:
        self._stack: Optional[contextlib.ExitStack] = None

    def before_run(self, runner: Runner) -> None:
        """Install the loader for the run."""
        self.after_run(runner)
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(checkpoint_loading())

    def after_run(self, runner: Runner) -> None:
        """Put mmengine's previous loader back."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
