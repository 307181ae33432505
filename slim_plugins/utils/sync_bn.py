# Copyright (c) slim_plugins contributors. All rights reserved.
"""SyncBN conversion that keeps slim and switchable BN.

mmengine's ``sync_bn='torch'`` (like
``nn.SyncBatchNorm.convert_sync_batchnorm``) replaces every ``BatchNorm``
subclass by a plain ``SyncBatchNorm``: a
:class:`~slim_plugins.ops.SlimBatchNorm2d` or
:class:`~slim_plugins.ops.SwitchableBatchNorm2d` then forgets its width and
fails at any width below 1. :func:`convert_sync_batchnorm` converts them to
their synchronised subclasses instead (same object, same parameters,
buffers, width state and state-dict keys) and converts plain BN layers like
torch does.

In configs, do **not** set mmengine's top-level ``sync_bn``; add the hook::

    custom_hooks = [dict(type='SyncSlimBNHook', implementation='torch')]

(:class:`~slim_plugins.engine.hooks.SyncSlimBNHook`), with
``implementation='slim'`` for CPU/gloo runs.
"""
from typing import Any, Optional

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from slim_plugins.ops.slim_bn import _SlimBatchNormMixin
from slim_plugins.ops.sync_slim_bn import (SYNC_SLIM_BN,
                                           AllGatherSyncBatchNorm, _SyncMixin)

#: Implementations of the synchronised *plain* BN layers.
SYNC_BN_IMPLEMENTATIONS = ('torch', 'mmcv', 'slim')


def _plain_sync_bn(bn: _BatchNorm, implementation: str,
                   process_group: Optional[Any]) -> nn.Module:
    """A sync BN sharing ``bn``'s parameters and buffers."""
    args = (bn.num_features, bn.eps, bn.momentum, bn.affine,
            bn.track_running_stats)
    if implementation == 'torch':
        sync = nn.SyncBatchNorm(*args, process_group=process_group)
    elif implementation == 'mmcv':
        from mmcv.ops import SyncBatchNorm
        sync = SyncBatchNorm(*args, group=process_group)
    else:
        sync = AllGatherSyncBatchNorm(*args, process_group=process_group)
    if bn.affine:
        sync.weight = bn.weight
        sync.bias = bn.bias
    sync.running_mean = bn.running_mean
    sync.running_var = bn.running_var
    sync.num_batches_tracked = bn.num_batches_tracked
    sync.train(bn.training)
    if hasattr(bn, 'qconfig'):
        sync.qconfig = bn.qconfig
    return sync


def _is_sync(module: nn.Module) -> bool:
    if isinstance(module, (nn.SyncBatchNorm, _SyncMixin)):
        return True
    return type(module).__name__ == 'SyncBatchNorm'  # mmcv's layer


def convert_sync_batchnorm(module: nn.Module,
                           implementation: str = 'torch',
                           process_group: Optional[Any] = None) -> nn.Module:
    """Synchronise every BN of ``module`` across ranks, keeping slim BN.

    * :class:`~slim_plugins.ops.SlimBatchNorm1d`/``2d`` and
      :class:`~slim_plugins.ops.SwitchableBatchNorm1d`/``2d`` become
      :class:`~slim_plugins.ops.SyncSlimBatchNorm2d` (etc.) **in place**:
      the object's class changes, so every reference to it (the width state,
      caches, DDP, the optimizer) stays valid and the state-dict keys do not
      change. They slice/switch as before.
    * Plain ``nn.BatchNorm*d`` layers (including the private BNs of a
      switchable BN) are replaced by a synchronised layer sharing their
      parameters and buffers, as torch's converter does.
    * Layers already synchronised are left as they are.

    Like torch's converter, containers are changed in place; deep-copy the
    model first to keep an unconverted copy. Outside a process group of more
    than one rank the converted layers use local statistics.

    Args:
        module (nn.Module): The model (or a layer).
        implementation (str): Layer for plain BNs: ``'torch'``
            (``nn.SyncBatchNorm``, trains on CUDA only), ``'mmcv'``
            (``mmcv.ops.SyncBatchNorm``, CUDA only) or ``'slim'``
            (:class:`~slim_plugins.ops.AllGatherSyncBatchNorm`, any device
            and backend, e.g. gloo on CPU). Slim BNs always use the
            ``slim_plugins`` layers. Defaults to ``'torch'``.
        process_group (ProcessGroup, optional): Ranks whose batches are
            pooled. Defaults to the default group.

    Returns:
        nn.Module: ``module`` converted (a new object only if ``module`` is
        itself a plain BN).

    Example:
        >>> from slim_plugins.models.backbones import SlimResNet
        >>> model = convert_sync_batchnorm(SlimResNet(18), 'slim')
        >>> type(model.bn1).__name__
        'SyncSlimBatchNorm2d'
    """
    if implementation not in SYNC_BN_IMPLEMENTATIONS:
        raise ValueError(f'implementation={implementation!r} is not '
                         f'supported; choose one of '
                         f'{SYNC_BN_IMPLEMENTATIONS}.')
    output = module
    if _is_sync(module):
        pass
    elif isinstance(module, _SlimBatchNormMixin):
        sync_cls = SYNC_SLIM_BN.get(type(module))
        if sync_cls is None:
            raise TypeError(
                f'{type(module).__name__} is a slim BN without a '
                f'synchronised version; convert_sync_batchnorm knows '
                f'{[cls.__name__ for cls in SYNC_SLIM_BN]}. Add a sync '
                f'class for it to slim_plugins.ops.sync_slim_bn.SYNC_SLIM_BN.')
        module.__class__ = sync_cls
        module.process_group = process_group
    elif isinstance(module, _BatchNorm):
        output = _plain_sync_bn(module, implementation, process_group)
    for name, child in module.named_children():
        output.add_module(
            name, convert_sync_batchnorm(child, implementation, process_group))
    return output
