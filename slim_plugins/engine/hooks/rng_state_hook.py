# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hook saving the random number generators and restoring them on resume."""
import random
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info, is_distributed
from mmengine.hooks import Hook
from mmengine.runner import Runner

from slim_plugins.engine.runners.resumable_loop import mid_epoch_resume_problem
from slim_plugins.registry import HOOKS

CHECKPOINT_KEY = 'rng_state'


def get_rng_state() -> Dict[str, Any]:
    """Return the state of this process's global random number generators.

    Python's ``random``, numpy's legacy global generator, torch's CPU
    generator and, once CUDA is initialised, torch's CUDA generators (one
    per visible device).

    Returns:
        dict: Plain Python values and CPU byte tensors, safe for
        ``torch.load(weights_only=True)``.
    """
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    cuda = None
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = torch.cuda.get_rng_state_all()
    return dict(
        python=[version, list(internal), gauss_next],
        numpy=[name, keys.tolist(), pos, has_gauss, cached_gaussian],
        torch=torch.get_rng_state(),
        cuda=cuda)


def set_rng_state(state: Dict[str, Any]) -> List[str]:
    """Restore a state returned by :func:`get_rng_state`.

    Args:
        state (dict): The saved state. Tensors may be on any device (a
            resume maps the checkpoint onto the training device).

    Returns:
        list[str]: What could not be restored (empty when all was).
    """
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, pos, has_gauss, cached_gaussian = state['numpy']
    np.random.set_state(
        (name, np.asarray(keys,
                          dtype=np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is None:
        return []
    if not torch.cuda.is_available():
        return ['the CUDA generators (CUDA is not available now)']
    if len(cuda) > torch.cuda.device_count():
        return [
            f'the CUDA generators (saved for {len(cuda)} devices, '
            f'{torch.cuda.device_count()} visible now)'
        ]
    torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    return []


class _RestoreBeforeFetch:
    """Iterator proxy restoring the RNG just before one ``next`` call.

    Passes the first ``skip`` batches through, then, on the next call, puts
    the wrapped iterator back on the loop, restores the RNG and fetches.

    Args:
        loop: The train loop whose ``dataloader_iterator`` this replaces.
        iterator (Iterator): The loop's iterator.
        skip (int): Batches the loop skips before the first trained one.
        restore (Callable): Restores the RNG.
    """

    def __init__(self, loop: Any, iterator: Iterator, skip: int,
                 restore: Callable[[], None]) -> None:
        self._loop = loop
        self._iterator = iterator
        self._skip = skip
        self._restore = restore

    def __iter__(self) -> '_RestoreBeforeFetch':
        return self

    def __next__(self) -> Any:
        if self._skip > 0:
            self._skip -= 1
            return next(self._iterator)
        self._loop.dataloader_iterator = self._iterator
        self._restore()
        return next(self._iterator)

    def __getattr__(self, name: str) -> Any:
        if name.startswith('_'):
            raise AttributeError(name)
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Continue the random number streams exactly on ``--resume``.

    mmengine resumes the weights, optimizer, schedulers and the data order,
    and re-seeds the generators, but it does not save their state, so any
    random draw of the training step (Mixup/CutMix in the data
    preprocessor, dropout, drop path, ...) differs after a resume from an
    uninterrupted run. This hook saves, in every checkpoint under
    ``'rng_state'``, the state of Python's ``random``, numpy, torch CPU and
    torch CUDA generators of every process (a list indexed by rank), and on
    resume restores this process's state at the point where the
    uninterrupted run continued from it:

    - iteration-based loops (with a ``dataloader_iterator``): just before
      the first batch fetched for training, i.e. after the loop replayed the
      already trained batches (which draws random numbers in the data
      pipeline when ``num_workers=0``);
    - epoch-based loops: in ``before_train_epoch`` of the resumed epoch,
      before the epoch's data iterator is made.

    A validation inside training gets its own stream: the training state is
    set aside at ``before_val`` and put back at ``after_val``, so whether
    (and how often) the run validates does not change its training
    randomness, and a checkpoint saved next to a validation resumes exactly.

    A checkpoint loaded with ``load_from`` (no resume) leaves the
    generators alone. A checkpoint without ``'rng_state'`` (older ones) or
    from a different number of processes resumes with the seeded state and
    a warning.

    Limitations: draws made after the state is taken and before the next
    training batch are not covered: by hooks after ``CheckpointHook`` in
    ``after_train_iter``/``after_train_epoch`` (under distributed training:
    after this hook), by other hooks' ``after_val``, or by hooks before this
    one in ``before_train_epoch`` (epoch-based). An epoch-based run resumed
    from a mid-epoch checkpoint restarts the epoch's data (mmengine), so it
    cannot match anyway. CUDA states are restored only where as many
    devices are visible. Dataloader workers are re-seeded by mmengine from
    the seed and replay the skipped batches, so they need nothing here.

    Under distributed training only rank 0 writes checkpoints, so the states
    of all ranks are gathered (one small ``all_gather_object``) in this
    hook's ``after_train_iter``, ``after_train_epoch`` and ``before_val``,
    which run before :class:`~mmengine.hooks.CheckpointHook` saves; hence
    ``priority = 'LOW'``, above the ``'VERY_LOW'`` of ``CheckpointHook``.

    Args:
        enable (bool): False turns the hook off (nothing saved, restored or
            set aside), as mmengine refuses ``None`` for a default hook it
            does not know: ``--cfg-options default_hooks.rng_state.enable=
            False``. Defaults to True.

    Example:
        >>> default_hooks = dict(rng_state=dict(type='RNGStateHook'))
    """

    priority = 'LOW'

    def __init__(self, enable: bool = True) -> None:
        if not isinstance(enable, bool):
            raise TypeError(f'RNGStateHook(enable={enable!r}): use True or '
                            f'False.')
        self.enable = enable
        self._resume_state: Optional[Dict[str, Any]] = None
        self._training = False
        self._val_fork: Optional[Dict[str, Any]] = None
        self._gathered: Optional[Tuple[int, List[Dict[str, Any]]]] = None
        self._warned_missing = False

    # ---------------------------------------------------------- saving --
    def _training_state(self) -> Dict[str, Any]:
        """This process's state of the training stream."""
        if self._val_fork is not None:
            return self._val_fork
        return get_rng_state()

    def _gather(self, runner: Runner) -> None:
        """Collect every rank's state (all ranks reach the call sites)."""
        if self.enable and is_distributed():
            self._gathered = (runner.iter,
                              all_gather_object(self._training_state()))

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        """Gather the states of all ranks for a checkpoint of this iter."""
        self._gather(runner)

    def after_train_epoch(self, runner: Runner) -> None:
        """Gather the states of all ranks for a checkpoint of this epoch."""
        self._gather(runner)

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """Store the states of all ranks under ``checkpoint['rng_state']``.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The checkpoint being saved.
        """
        if not self.enable:
            return
        if not is_distributed():
            checkpoint[CHECKPOINT_KEY] = [self._training_state()]
            return
        if self._gathered is None or self._gathered[0] != runner.iter:
            runner.logger.warning(
                'RNGStateHook: this checkpoint is saved outside a training '
                'iteration, epoch end or validation, where the random '
                'states of all ranks are gathered; it is saved without '
                '"rng_state" and a resume from it will not restore them.')
            return
        checkpoint[CHECKPOINT_KEY] = self._gathered[1]

    # ------------------------------------------------------- validation --
    def before_train(self, runner: Runner) -> None:
        """Mark that validations from now on happen inside training."""
        self._training = self.enable

    def after_train(self, runner: Runner) -> None:
        """Mark the end of training."""
        self._training = False

    def before_val(self, runner: Runner) -> None:
        """Set the training stream aside during a validation in training."""
        if not self._training:
            return
        self._val_fork = get_rng_state()
        self._gather(runner)

    def after_val(self, runner: Runner) -> None:
        """Continue the training stream where the validation began."""
        if self._val_fork is None:
            return
        fork, self._val_fork = self._val_fork, None
        set_rng_state(fork)

    # ---------------------------------------------------------- resuming --
    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        """Keep this rank's saved state when the runner resumes.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        if not getattr(runner, '_resume', False):
            return  # load_from: weights only, the streams stay as seeded
        problem = mid_epoch_resume_problem(runner.train_loop, checkpoint)
        if problem is not None:
            raise ValueError(f'cannot resume exactly: {problem}')
        if not self.enable:
            return
        states = checkpoint.get(CHECKPOINT_KEY)
        if states is None:
            if not self._warned_missing:
                self._warned_missing = True
                runner.logger.warning(
                    'RNGStateHook: the checkpoint has no "rng_state" (saved '
                    'without this hook); the random number generators are '
                    'not restored, so random draws after the resume differ '
                    'from an uninterrupted run.')
            return
        if not isinstance(states, (list, tuple)):
            raise TypeError(
                f'checkpoint["{CHECKPOINT_KEY}"] should be a list with one '
                f'state per rank, got {type(states).__name__}; the '
                f'checkpoint was not written by RNGStateHook.')
        rank, world_size = get_dist_info()
        if len(states) != world_size:
            runner.logger.warning(
                f'RNGStateHook: the checkpoint holds the random states of '
                f'{len(states)} process(es) but this run has {world_size}; '
                f'the random streams cannot be continued, so they are not '
                f'restored.')
            return
        self._resume_state = states[rank]

    def before_train_epoch(self, runner: Runner) -> None:
        """Arrange the restore at the first training fetch after a resume.

        Args:
            runner (Runner): The runner.
        """
        if self._resume_state is None:
            return
        state, self._resume_state = self._resume_state, None
        loop = runner.train_loop
        iterator = getattr(loop, 'dataloader_iterator', None)
        if iterator is None:  # epoch-based: the data iterator comes next
            self._restore(runner, state)
            return
        # Iteration-based: the loop replays ``loop.iter`` trained batches
        # after this hook, then fetches the first batch to train on.
        loop.dataloader_iterator = _RestoreBeforeFetch(
            loop, iterator, loop.iter, lambda: self._restore(runner, state))

    @staticmethod
    def _restore(runner: Runner, state: Dict[str, Any]) -> None:
        missed = set_rng_state(state)
        for what in missed:
            runner.logger.warning(f'RNGStateHook: could not restore {what}.')
        runner.logger.info(
            f'RNGStateHook: restored the random number generators saved at '
            f'iteration {runner.iter}.')
