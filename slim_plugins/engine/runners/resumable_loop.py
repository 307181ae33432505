# Copyright (c) slim_plugins contributors. All rights reserved.
"""An epoch-based training loop that resumes in the middle of an epoch.

mmengine's ``EpochBasedTrainLoop`` restores the epoch and iteration counters
of a checkpoint but always starts an epoch at its first batch. Resumed from
an iteration checkpoint saved mid-epoch (``CheckpointHook(by_epoch=False)``,
or a run killed before its epoch checkpoint), it trains the batches of that
epoch that were trained already and runs past ``max_iters``.
"""
import contextlib
import itertools
from typing import Iterator, Optional

from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from slim_plugins.registry import LOOPS


class _SkippedSampler:
    """The indices of ``sampler`` after its first ``skip``."""

    def __init__(self, sampler, skip: int) -> None:
        self.sampler = sampler
        self.skip = skip

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.sampler) - self.skip)


@contextlib.contextmanager
def skipping_batches(dataloader: DataLoader, num_batches: int) -> Iterator:
    """Make the next pass over ``dataloader`` start at batch
    ``num_batches`` of its epoch, without loading the batches before it.

    The skip happens at the index sampler (in the main process), so the
    remaining batches hold the same samples as in an uninterrupted epoch and
    no data pipeline runs for the skipped ones.

    Args:
        dataloader (DataLoader): A loader with a ``batch_sampler`` that
            draws from a ``sampler`` (torch's default batching).
        num_batches (int): Batches to skip.

    Raises:
        TypeError: If the loader batches some other way.
    """
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    sampler = getattr(batch_sampler, 'sampler', None)
    batch_size = getattr(batch_sampler, 'batch_size', None)
    if sampler is None or not isinstance(batch_size, int):
        raise TypeError(
            f'cannot resume in the middle of an epoch: the train dataloader '
            f'batches with {type(batch_sampler).__name__}, which has no '
            '`sampler`/`batch_size` to skip the trained batches of; resume '
            'from an epoch checkpoint instead.')
    batch_sampler.sampler = _SkippedSampler(sampler, num_batches * batch_size)
    try:
        yield
    finally:
        batch_sampler.sampler = sampler


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes at the batch after the
    checkpoint's iteration.

    Resumed at iteration ``i`` of epoch ``e``, the first epoch run skips the
    ``i - e * len(dataloader)`` batches already trained (at the sampler, see
    :func:`skipping_batches`), so a killed and resumed run trains exactly
    the batches and iterations of an uninterrupted one. Together with
    ``RNGStateHook`` (random streams), the width sampler's state and the
    model's EMA teacher in the checkpoint, the resumed run is the same run
    (exactly, on CPU with ``num_workers=0``; dataloader workers restart
    their own random streams, so their augmentations differ). Arguments are
    those of ``EpochBasedTrainLoop``.
    """

    def trained_in_epoch(self) -> int:
        """Batches of the current epoch trained before this run started."""
        return self._iter - self._epoch * len(self.dataloader)

    def run_epoch(self) -> None:
        """Iterate one epoch, from the first untrained batch."""
        skip = self.trained_in_epoch()
        if skip <= 0:
            return super().run_epoch()
        if skip > len(self.dataloader):
            raise ValueError(
                f'the checkpoint is at iteration {self._iter}, epoch '
                f'{self._epoch}, but an epoch has {len(self.dataloader)} '
                'batches: it comes from a run with another batch size or '
                'dataset.')
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        with skipping_batches(self.dataloader, skip):
            for idx, data_batch in enumerate(self.dataloader, start=skip):
                self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1


def mid_epoch_resume_problem(train_loop: object,
                             checkpoint: dict) -> Optional[str]:
    """Why resuming ``checkpoint`` with ``train_loop`` would retrain data.

    Args:
        train_loop: The runner's train loop.
        checkpoint (dict): The loaded checkpoint (``meta.epoch/iter``).

    Returns:
        str or None: The problem, for a plain ``EpochBasedTrainLoop`` and a
        checkpoint saved in the middle of an epoch; else None.
    """
    if type(train_loop) is not EpochBasedTrainLoop:
        return None
    meta = checkpoint.get('meta', {})
    epoch, iteration = meta.get('epoch'), meta.get('iter')
    if not isinstance(epoch, int) or not isinstance(iteration, int):
        return None
    trained = iteration - epoch * len(train_loop.dataloader)
    if trained <= 0:
        return None
    return (f'the checkpoint was saved at iteration {iteration}, after '
            f'{trained} of the {len(train_loop.dataloader)} batches of epoch '
            f'{epoch}; mmengine\'s EpochBasedTrainLoop would train that '
            'epoch again from its first batch (and run past max_iters). Use '
            "train_cfg.type='ResumableEpochBasedTrainLoop', or resume from "
            'an epoch checkpoint.')
