# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hook calibrating BN statistics per width before validation / testing."""
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from slim_plugins.registry import HOOKS
from slim_plugins.utils.bn_calibration import CALIBRATION_MODES, calibrate_bn

DATA_BATCH = Optional[dict]


@HOOKS.register_module()
class BNCalibrationHook(Hook):
    """Calibrate the BN statistics of each width before val/test.

    For every width in ``widths``, BN statistics of ``module`` (default the
    backbone) are re-estimated on ``num_batches`` batches (see
    :func:`~slim_plugins.utils.bn_calibration.calibrate_bn`) and stored in the
    module's calibration bank, which is part of the state dict: checkpoints
    saved afterwards carry the calibrated statistics, and the multi-width
    loops load them per width.

    Args:
        widths (Sequence[float]): Widths to calibrate.
        num_batches (int): Batches per width. Defaults to 20.
        dataloader (dict, optional): Dataloader config of the calibration
            data. Defaults to the config's ``train_dataloader``.
        mode (str): ``'cumulative'`` (default) or ``'ema'`` (US3L recipe).
        ema_momentum (float): Momentum of the ``'ema'`` mode.
        module (str): Attribute of the model to calibrate.
        before (Sequence[str]): Any of ``'val'`` and ``'test'``.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 widths: Sequence[float],
                 num_batches: int = 20,
                 dataloader: Optional[dict] = None,
                 mode: str = 'cumulative',
                 ema_momentum: float = 0.1,
                 module: str = 'backbone',
                 before: Sequence[str] = ('val', 'test')) -> None:
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
                             f'only "val" and "test" are supported.')
        self.widths = [float(w) for w in widths]
        self.num_batches = num_batches
        self.dataloader_cfg = dataloader
        self.mode = mode
        self.ema_momentum = ema_momentum
        self.module_name = module
        self.before = tuple(before)
        self._dataloader = None

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

    def calibrate(self, runner: Runner) -> None:
        """Calibrate every configured width of the runner's model."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        target = getattr(model, self.module_name, None)
        if target is None:
            raise ValueError(f'BNCalibrationHook(module='
                             f'{self.module_name!r}): the model '
                             f'{type(model).__name__} has no such attribute.')

        def forward(batch: dict) -> None:
            data = model.data_preprocessor(batch, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):
                # Multi-view SSL batches: one view is enough for statistics.
                inputs = inputs[0]
            target(inputs)

        calibrate_bn(
            target,
            self._get_dataloader(runner),
            forward,
            self.widths,
            self.num_batches,
            mode=self.mode,
            ema_momentum=self.ema_momentum,
            logger=runner.logger.info)

    def before_val_epoch(self, runner: Runner) -> None:
        if 'val' in self.before:
            self.calibrate(runner)

    def before_test_epoch(self, runner: Runner) -> None:
        if 'test' in self.before:
            self.calibrate(runner)
