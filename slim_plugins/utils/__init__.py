# Copyright (c) slim_plugins contributors. All rights reserved.
"""Utilities below the models: checkpoint loading, process-group teardown,
BN calibration, sub-network state dicts, MAC counting, SyncBN conversion,
interleaved timing, peak memory.

Nothing here imports :mod:`slim_plugins.models`; the model-level helpers
(``export_subnet``, ``width_complexity``) are in
:mod:`slim_plugins.models.utils`.
"""
from .checkpoint import (CheckpointLoadError, checkpoint_loading,
                         load_checkpoint_file)
from .distributed import close_process_groups
from .export import load_state_dict_strict, strip_prefix, subnet_state_dict
from .flops import count_macs
from .memory import PeakResidentMemory, fixed_mmap_env, resident_bytes
from .sync_bn import SYNC_BN_IMPLEMENTATIONS, convert_sync_batchnorm
from .timing import interleaved_medians

__all__ = [
    'CheckpointLoadError', 'checkpoint_loading', 'load_checkpoint_file',
    'close_process_groups', 'load_state_dict_strict', 'strip_prefix',
    'subnet_state_dict', 'count_macs', 'SYNC_BN_IMPLEMENTATIONS',
    'convert_sync_batchnorm', 'interleaved_medians', 'PeakResidentMemory',
    'fixed_mmap_env', 'resident_bytes'
]
