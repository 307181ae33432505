# Copyright (c) slim_plugins contributors. All rights reserved.
"""Utilities: sub-network export, FLOPs per width, checkpoint helpers.

Exports are resolved lazily (PEP 562): ``export`` / ``flops`` import the
backbones, so eager imports here would be circular.
``from slim_plugins.utils import export_subnet`` works as usual.
"""
import importlib
from typing import Any, Dict

_LAZY_EXPORTS: Dict[str, str] = {
    'CheckpointLoadError': '.checkpoint',
    'checkpoint_loading': '.checkpoint',
    'load_checkpoint_file': '.checkpoint',
    'export_subnet': '.export',
    'find_slim_resnet': '.export',
    'load_state_dict_strict': '.export',
    'mmpretrain_config': '.export',
    'strip_prefix': '.export',
    'subnet_state_dict': '.export',
    'WidthComplexity': '.flops',
    'count_macs': '.flops',
    'width_complexity': '.flops',
    'SYNC_BN_IMPLEMENTATIONS': '.sync_bn',
    'convert_sync_batchnorm': '.sync_bn',
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        module = importlib.import_module(_LAZY_EXPORTS[name], __name__)
        return getattr(module, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = list(_LAZY_EXPORTS)
