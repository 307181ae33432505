# Copyright (c) slim_plugins contributors. All rights reserved.
"""BN calibration: re-estimating the BN statistics of each width.

A universally slimmable network shares one BN per layer across all widths, so
the running statistics collected during training are a mixture of widths and
are wrong for any single width (US-Nets; US3L pretrains without running
statistics at all). Calibration re-estimates them for a given width: reset,
then forward some batches in train mode under ``no_grad`` while BN layers
accumulate a cumulative (``momentum=None``) or exponential average.

The statistics of each calibrated width are kept in a
:class:`CalibratedBNStats` bank attached to the calibrated module (the
backbone), so they travel in its state dict: a checkpoint saved after
calibration evaluates and exports any calibrated width without calibrating
again, and :func:`apply_calibrated_stats` puts a width's statistics back into
the BN buffers.
"""
import contextlib
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.dist import get_world_size
from torch.nn.modules.batchnorm import _BatchNorm

from slim_plugins.ops import using_width
from slim_plugins.ops.slim_bn import _SlimBatchNormMixin
from slim_plugins.ops.switchable_bn import _SwitchableBatchNormMixin
from slim_plugins.utils.width_naming import width_tag

BANK_NAME = 'bn_calibration'
CALIBRATION_MODES = ('cumulative', 'ema')


class CalibratedBNStats(nn.Module):
    """Per-width BN statistics, stored as buffers so they are checkpointed.

    Buffers are named ``<width tag>__<bn name with '.' -> '__'>__<stat>``.
    Loading a state dict creates the buffers it finds, so an empty bank in a
    freshly built model takes any calibrated widths from a checkpoint.
    """

    STATS = ('running_mean', 'running_var')

    def _name(self, width: float, bn_name: str, stat: str) -> str:
        return f'{width_tag(width)}__{bn_name.replace(".", "__")}__{stat}'

    def store(self, width: float,
              stats: Dict[str, Dict[str, torch.Tensor]]) -> None:
        """Store ``{bn name: {stat: tensor}}`` of ``width`` (replacing)."""
        self.discard(width)
        for bn_name, bn_stats in stats.items():
            for stat in self.STATS:
                self.register_buffer(
                    self._name(width, bn_name, stat),
                    bn_stats[stat].detach().clone())

    def discard(self, width: float) -> None:
        """Forget the statistics of ``width``."""
        prefix = width_tag(width) + '__'
        for name in [n for n in self._buffers if n.startswith(prefix)]:
            del self._buffers[name]

    def load(self, width: float) -> Dict[str, Dict[str, torch.Tensor]]:
        """Return ``{bn name: {stat: tensor}}`` of ``width`` (may be empty)."""
        prefix = width_tag(width) + '__'
        stats: Dict[str, Dict[str, torch.Tensor]] = {}
        for name, tensor in self._buffers.items():
            if not name.startswith(prefix):
                continue
            bn_part, stat = name[len(prefix):].rsplit('__', 1)
            stats.setdefault(bn_part.replace('__', '.'), {})[stat] = tensor
        return stats

    def widths(self) -> List[str]:
        """Tags of the widths held, e.g. ``['w0_25', 'w1']``."""
        return sorted({name.split('__', 1)[0] for name in self._buffers})

    def has(self, width: float) -> bool:
        """Whether ``width`` has calibrated statistics."""
        return width_tag(width) in self.widths()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        for key, value in state_dict.items():
            if key.startswith(prefix) and '.' not in key[len(prefix):]:
                name = key[len(prefix):]
                if name not in self._buffers:
                    self.register_buffer(name, torch.empty_like(value))
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


def get_bank(module: nn.Module, create: bool = False
             ) -> Optional[CalibratedBNStats]:
    """The calibration bank attached to ``module`` (created if asked)."""
    bank = getattr(module, BANK_NAME, None)
    if bank is None and create:
        bank = CalibratedBNStats()
        module.add_module(BANK_NAME, bank)
    return bank


def needs_calibration(module: nn.Module) -> bool:
    """Whether ``module`` has BN shared across widths with tracked stats.

    Switchable BN keeps private statistics per width and plain BN is not
    slimmed, so only shared slim BN needs per-width calibration.
    """
    return any(
        isinstance(m, _SlimBatchNormMixin)
        and not isinstance(m, _SwitchableBatchNormMixin)
        and m.track_running_stats for m in module.modules())


def active_batch_norms(
        module: nn.Module) -> Iterator[Tuple[str, _BatchNorm, int]]:
    """Yield ``(name, bn, channels)`` for the BN used at the current width.

    For a switchable BN the yielded module is the private BN of the current
    width (``channels`` all of it); for a shared slim BN it is the layer
    itself with the active number of channels (its statistics are the
    leading slice); a plain BN is yielded whole. Private BNs are not visited
    on their own. Only BNs with tracked running statistics are yielded.
    """
    for name, bn in module.named_modules():
        if BANK_NAME in name.split('.'):
            continue
        if '.switch_bns.' in f'.{name}.':
            continue
        if not isinstance(bn, _BatchNorm) or not bn.track_running_stats:
            continue
        if isinstance(bn, _SwitchableBatchNormMixin):
            private = bn._bn_for(bn.width_state.width)
            if private is not None:
                yield name, private, private.num_features
                continue
        if isinstance(bn, _SlimBatchNormMixin):
            yield name, bn, bn.active_features()
        else:
            yield name, bn, bn.num_features


def _read_stats(module: nn.Module) -> Dict[str, Dict[str, torch.Tensor]]:
    return {
        name: dict(
            running_mean=bn.running_mean[:c].clone(),
            running_var=bn.running_var[:c].clone())
        for name, bn, c in active_batch_norms(module)
    }


def apply_calibrated_stats(module: nn.Module, width: float) -> None:
    """Copy the calibrated statistics of ``width`` into the BN buffers.

    Raises:
        ValueError: If ``width`` was never calibrated, or the bank does not
            match the module's BN layers.
    """
    bank = get_bank(module)
    if bank is None or not bank.has(width):
        held = bank.widths() if bank is not None else []
        raise ValueError(
            f'width={width} has no calibrated BN statistics in '
            f'{type(module).__name__} (calibrated: {held or "none"}); run '
            f'tools/calibrate_bn.py on the checkpoint or add a '
            f'BNCalibrationHook with this width.')
    stats = bank.load(width)
    with using_width(module, width), torch.no_grad():
        current = {name: (bn, c) for name, bn, c in active_batch_norms(module)}
        if set(current) != set(stats):
            raise ValueError(
                f'calibrated BN statistics of width={width} do not match the '
                f'model: missing {sorted(set(current) - set(stats))}, '
                f'unexpected {sorted(set(stats) - set(current))}.')
        for name, (bn, c) in current.items():
            bn.running_mean[:c].copy_(stats[name]['running_mean'])
            bn.running_var[:c].copy_(stats[name]['running_var'])


@contextlib.contextmanager
def preserved_bn_buffers(module: nn.Module) -> Iterator[None]:
    """Restore every BN buffer of ``module`` on exit."""
    bns = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    saved = {
        bn: {k: v.clone()
             for k, v in bn._buffers.items() if v is not None}
        for bn in bns
    }
    try:
        yield
    finally:
        with torch.no_grad():
            for bn, buffers in saved.items():
                for key, value in buffers.items():
                    bn._buffers[key].copy_(value)


@contextlib.contextmanager
def _calibration_mode(module: nn.Module,
                      momentum: Optional[float]) -> Iterator[None]:
    """Train mode + given BN momentum; restores modes, momenta, buffers."""
    modes = {m: m.training for m in module.modules()}
    bns = [m for m in module.modules() if isinstance(m, _BatchNorm)]
    momenta = {bn: bn.momentum for bn in bns}
    try:
        with preserved_bn_buffers(module):
            # Not module.train(): a frozen / norm_eval backbone would put
            # its BNs back in eval mode and nothing would be calibrated.
            for m in module.modules():
                m.training = True
            for bn in bns:
                bn.momentum = momentum
            yield
    finally:
        for bn, value in momenta.items():
            bn.momentum = value
        for m, training in modes.items():
            m.training = training


def _all_reduce_stats(stats: Dict[str, Dict[str, torch.Tensor]]) -> None:
    """Average statistics over ranks (mean; variance via E[x^2])."""
    world_size = get_world_size()
    if world_size == 1:
        return
    for bn_stats in stats.values():
        mean, var = bn_stats['running_mean'], bn_stats['running_var']
        second_moment = var + mean * mean
        packed = torch.stack([mean, second_moment])
        torch_dist.all_reduce(packed)
        packed /= world_size
        bn_stats['running_mean'] = packed[0]
        bn_stats['running_var'] = packed[1] - packed[0] * packed[0]


def calibrate_bn(module: nn.Module,
                 batches: Iterable,
                 forward: Callable[[object], object],
                 widths: Sequence[float],
                 num_batches: int,
                 mode: str = 'cumulative',
                 ema_momentum: float = 0.1,
                 logger: Optional[Callable[[str], None]] = None
                 ) -> Dict[float, Dict[str, Dict[str, torch.Tensor]]]:
    """Calibrate the BN statistics of ``module`` at each width.

    For each width: the active BN statistics are reset (mean 0, variance 1),
    ``num_batches`` batches are forwarded in train mode under ``no_grad``,
    and the result, averaged across ranks, is stored in the module's
    :class:`CalibratedBNStats` bank. Afterwards every module's mode, BN
    momentum and BN buffers are exactly as before: calibration only adds to
    the bank (use :func:`apply_calibrated_stats` to load a width).

    Args:
        module (nn.Module): The slimmable module whose BNs are calibrated
            (typically the backbone).
        batches (Iterable): Source of batches (e.g. a dataloader); iterated
            anew for every width.
        forward (Callable): Runs one batch through ``module``.
        widths (Sequence[float]): Widths to calibrate.
        num_batches (int): Batches per width (> 0).
        mode (str): ``'cumulative'`` (exact average over the batches,
            ``momentum=None``) or ``'ema'`` (US3L's recipe, momentum
            ``ema_momentum``, no reset of the statistics).
        ema_momentum (float): Momentum of the ``'ema'`` mode.
        logger (Callable, optional): Receives one progress line per width.

    Returns:
        dict: ``{width: {bn name: {'running_mean', 'running_var'}}}``.
    """
    if num_batches <= 0:
        raise ValueError(f'num_batches={num_batches}: BN calibration needs '
                         f'at least one batch; set num_batches >= 1.')
    if mode not in CALIBRATION_MODES:
        raise ValueError(f'mode={mode!r} is not a calibration mode; choose '
                         f'one of {CALIBRATION_MODES}.')
    widths = [float(w) for w in widths]
    if not widths:
        raise ValueError('calibrate_bn got no widths to calibrate.')
    if next(active_batch_norms(module), None) is None:
        raise ValueError(
            f'calibrate_bn: no BN layer of {type(module).__name__} tracks '
            'running statistics (track_running_stats=False, as in US3L '
            'pre-training), so there is nothing to calibrate; build the '
            'module with track_running_stats=True (tools/calibrate_bn.py '
            'does so itself).')
    bank = get_bank(module, create=True)
    results = {}
    for width in widths:
        momentum = None if mode == 'cumulative' else ema_momentum
        with using_width(module, width), _calibration_mode(module, momentum):
            if mode == 'cumulative':
                with torch.no_grad():
                    for _, bn, c in active_batch_norms(module):
                        bn.running_mean[:c].zero_()
                        bn.running_var[:c].fill_(1.)
                        bn.num_batches_tracked.zero_()
            seen = 0
            with torch.no_grad():
                for batch in batches:
                    if seen == num_batches:
                        break
                    forward(batch)
                    seen += 1
            if seen < num_batches:
                raise ValueError(
                    f'BN calibration asked for {num_batches} batches but the '
                    f'data gave only {seen}; lower num_batches.')
            stats = _read_stats(module)
        _all_reduce_stats(stats)
        bank.store(width, stats)
        results[width] = stats
        if logger is not None:
            logger(f'BN calibration: width {width:g}, {seen} batches, '
                   f'{len(stats)} BN layers ({mode})')
    return results
