# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hook turning a model's BN layers into synchronised BN, slim BN kept."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch.nn.modules.batchnorm import _BatchNorm

from slim_plugins.ops.slim_bn import _SlimBatchNormMixin
from slim_plugins.registry import HOOKS
from slim_plugins.utils.sync_bn import (SYNC_BN_IMPLEMENTATIONS,
                                        convert_sync_batchnorm)


@HOOKS.register_module()
class SyncSlimBNHook(Hook):
    """The slimmable replacement of mmengine's ``sync_bn='torch'``.

    mmengine's top-level ``sync_bn`` replaces slim and switchable BN by plain
    ``SyncBatchNorm`` layers that cannot change width. This hook calls
    :func:`slim_plugins.utils.convert_sync_batchnorm` on the model in
    ``before_train`` of a distributed run instead (evaluation never
    synchronises, so val/test runs are left alone): slim/switchable BNs become
    their synchronised subclasses in place, plain BNs become sync layers
    sharing their parameters and buffers, so the DDP wrapper, the optimizer
    and the checkpoint keys are unaffected. Non-distributed runs are left as
    they are, as mmengine does.

    Use it with the multi-width DDP wrapper (mmengine looks the wrapper up
    without the default scope, so its type needs the ``slim_plugins.``
    prefix)::

        model_wrapper_cfg = dict(
            type='slim_plugins.MultiWidthDistributedDataParallel',
            find_unused_parameters=True)
        custom_hooks = [dict(type='SyncSlimBNHook', implementation='torch')]

    Args:
        implementation (str): Layer for the plain BNs: ``'torch'``
            (``nn.SyncBatchNorm``, CUDA), ``'mmcv'`` (CUDA) or ``'slim'``
            (all-gather layer for any device, e.g. gloo on CPU). Defaults to
            ``'torch'``.
    """

    # Before the other hooks' ``before_train`` see the model.
    priority = 'VERY_HIGH'

    def __init__(self, implementation: str = 'torch') -> None:
        if implementation not in SYNC_BN_IMPLEMENTATIONS:
            raise ValueError(f'SyncSlimBNHook: implementation='
                             f'{implementation!r} is not supported; choose '
                             f'one of {SYNC_BN_IMPLEMENTATIONS}.')
        self.implementation = implementation

    def before_train(self, runner: Runner) -> None:
        """Convert the model's BN layers when training is distributed."""
        if runner.cfg.get('sync_bn', None) is not None:
            raise ValueError(
                f'sync_bn={runner.cfg.sync_bn!r} is set in the config: '
                f'mmengine then replaces slim BN by plain SyncBatchNorm, '
                f'which cannot change width. Remove `sync_bn`; '
                f'SyncSlimBNHook does the conversion.')
        if not runner.distributed:
            runner.logger.info('SyncSlimBNHook: not distributed, BN layers '
                               'are left unchanged.')
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if self.implementation != 'slim' and any(not p.is_cuda
                                                 for p in model.parameters()):
            raise ValueError(
                f'SyncSlimBNHook: implementation={self.implementation!r} '
                f'trains on CUDA only, but the model is on the CPU; use '
                f"implementation='slim' in custom_hooks.")
        bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
        num_slim = sum(isinstance(m, _SlimBatchNormMixin) for m in bns)
        convert_sync_batchnorm(model, self.implementation)
        runner.logger.info(
            f'SyncSlimBNHook: synchronised {num_slim} slim/switchable BN and '
            f'{len(bns) - num_slim} plain BN layers ({self.implementation} '
            f'for plain BN).')
