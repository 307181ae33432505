# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hook calibrating BN statistics per width before val/test (or training)."""
from typing import Any, Callable, Optional, Sequence

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch.utils.hooks import RemovableHandle

from slim_plugins.ops import get_width
from slim_plugins.registry import HOOKS
from slim_plugins.utils.bn_calibration import (CALIBRATION_MODES,
                                               active_batch_norms,
                                               apply_calibrated_stats,
                                               calibrate_bn, get_bank)

DATA_BATCH = Optional[dict]


def calibration_forward(model: nn.Module,
                        target: nn.Module) -> Callable[[Any], None]:
    """The ``forward`` of :func:`calibrate_bn` for a runner's model.

    Args:
        model (nn.Module): The model, whose data preprocessor prepares the
            batches (test mode).
        target (nn.Module): The calibrated module (e.g. ``model.backbone``).

    Returns:
        Callable: Runs one dataloader batch through ``target``; of a
        multi-view (SSL) batch only the first view, which is enough for
        statistics. (:func:`calibrate_bn` puts every BN in train mode, also
        those a frozen / ``norm_eval`` backbone keeps in eval mode.)
    """

    def forward(batch: Any) -> None:
        data = model.data_preprocessor(batch, False)
        inputs = data['inputs'] if isinstance(data, dict) else data[0]
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        target(inputs)

    return forward


@HOOKS.register_module()
class BNCalibrationHook(Hook):
    """Calibrate the BN statistics of each width before val/test/training.

    For every width in ``widths``, BN statistics of ``module`` (default the
    backbone) are re-estimated on ``num_batches`` batches (see
    :func:`~slim_plugins.utils.bn_calibration.calibrate_bn`) and stored in the
    module's calibration bank, which is part of the state dict: checkpoints
    saved afterwards carry the calibrated statistics, and the multi-width
    loops load them per width.

    With ``before_train=True`` the widths are also calibrated once before
    training starts, and during training the module's BN buffers follow its
    width: before every forward of a training iteration at a width other
    than the last one applied, that width's calibrated statistics are
    loaded. This is for linear probes on a frozen universal (shared-BN)
    backbone, which must train on the statistics of the width they probe
    (one width per run, or several per step): the backbone's BN layers have
    to stay in eval mode (``norm_eval=True``, ``frozen_stages``); a BN in
    train mode would use batch statistics and is refused. Evaluation is not
    affected (the multi-width loops load the bank themselves).

    Args:
        widths (Sequence[float]): Widths to calibrate.
        num_batches (int): Batches per width. Defaults to 20.
        dataloader (dict, optional): Dataloader config of the calibration
            data. Defaults to the config's ``train_dataloader``.
        mode (str): ``'cumulative'`` (default) or ``'ema'`` (US3L recipe).
        ema_momentum (float): Momentum of the ``'ema'`` mode.
        module (str): Attribute of the model to calibrate.
        before (Sequence[str]): Any of ``'val'`` and ``'test'``.
        before_train (bool): Calibrate before training and keep the BN
            statistics of the current width during training, as above.
            Defaults to False.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 widths: Sequence[float],
                 num_batches: int = 20,
                 dataloader: Optional[dict] = None,
                 mode: str = 'cumulative',
                 ema_momentum: float = 0.1,
                 module: str = 'backbone',
                 before: Sequence[str] = ('val', 'test'),
                 before_train: bool = False) -> None:
        if not widths:
            raise ValueError('BNCalibrationHook needs at least one width in '
                             '`widths`.')
        if num_batches <= 0:
            raise ValueError(f'BNCalibrationHook(num_batches={num_batches}) '
                             f'would calibrate on nothing; set num_batches '
                             f'>= 1.')
        if mode not in CALIBRATION_MODES:
            raise ValueError(f'BNCalibrationHook(mode={mode!r}): choose one '
                             f'of {CALIBRATION_MODES}.')
        unknown = set(before) - {'val', 'test'}
        if unknown:
            raise ValueError(f'BNCalibrationHook(before={list(before)}): '
                             f'only "val" and "test" are supported; use '
                             f'before_train=True for training.')
        if not isinstance(before_train, bool):
            raise TypeError(f'BNCalibrationHook(before_train='
                            f'{before_train!r}) must be True or False.')
        self.widths = [float(w) for w in widths]
        self.num_batches = num_batches
        self.dataloader_cfg = dataloader
        self.mode = mode
        self.ema_momentum = ema_momentum
        self.module_name = module
        self.before = tuple(before)
        self.before_train_calibration = before_train
        self._dataloader = None
        self._handle: Optional[RemovableHandle] = None
        self._armed = False
        self._applied: Optional[float] = None

    def _get_dataloader(self, runner: Runner):
        if self._dataloader is None:
            cfg = self.dataloader_cfg or runner.cfg.get('train_dataloader')
            if cfg is None:
                raise ValueError(
                    'BNCalibrationHook has no data: set its `dataloader` or '
                    'give the config a `train_dataloader`.')
            self._dataloader = Runner.build_dataloader(
                cfg, seed=runner.seed)
        return self._dataloader

    def _target(self, runner: Runner) -> nn.Module:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        target = getattr(model, self.module_name, None)
        if target is None:
            raise ValueError(f'BNCalibrationHook(module='
                             f'{self.module_name!r}): the model '
                             f'{type(model).__name__} has no such attribute.')
        return target

    def calibrate(self, runner: Runner) -> None:
        """Calibrate every configured width of the runner's model."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        target = self._target(runner)
        calibrate_bn(
            target,
            self._get_dataloader(runner),
            calibration_forward(model, target),
            self.widths,
            self.num_batches,
            mode=self.mode,
            ema_momentum=self.ema_momentum,
            logger=runner.logger.info)

    # ------------------------------------------------------------------
    # before_train: calibrated statistics during training
    # ------------------------------------------------------------------
    def _follow_width(self, module: nn.Module, args: Any) -> None:
        """Forward pre-hook: load the calibrated stats of the width."""
        if not self._armed:
            return
        width = get_width(module)
        if self._applied is not None and abs(width - self._applied) < 1e-9:
            return
        training = [
            name for name, bn, _ in active_batch_norms(module) if bn.training
        ]
        if training:
            raise ValueError(
                f'BNCalibrationHook(before_train=True) trains on calibrated '
                f'BN statistics, but {len(training)} BN layer(s) of '
                f'`{self.module_name}` are in train mode (e.g. '
                f'{training[0]}) and would use batch statistics; freeze '
                f'them with norm_eval=True (and frozen_stages) in the '
                f'backbone config.')
        bank = get_bank(module)
        if bank is None or not bank.has(width):
            raise ValueError(
                f'BNCalibrationHook(before_train=True): training runs at '
                f'width={width:g}, which is not among the calibrated widths '
                f'{self.widths}; add it to the hook\'s `widths`.')
        apply_calibrated_stats(module, width)
        self._applied = width

    def before_train(self, runner: Runner) -> None:
        if not self.before_train_calibration:
            return
        self.calibrate(runner)
        if self._handle is None:
            self._handle = self._target(runner).register_forward_pre_hook(
                self._follow_width)
        self._applied = None

    def before_train_iter(self,
                          runner: Runner,
                          batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        if self._handle is not None:
            self._armed = True

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        self._armed = False

    def before_val_epoch(self, runner: Runner) -> None:
        # The val loop loads (and afterwards restores) BN buffers itself.
        self._applied = None
        if 'val' in self.before:
            self.calibrate(runner)

    def before_test_epoch(self, runner: Runner) -> None:
        if 'test' in self.before:
            self.calibrate(runner)

    def after_train(self, runner: Runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._armed = False
