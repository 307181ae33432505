# Copyright (c) slim_plugins contributors. All rights reserved.
"""Strict loading of ``init_cfg=dict(type='Pretrained', ...)`` weights.

mmengine's ``PretrainedInit`` loads with ``strict=False`` and only *logs*
missing keys, unexpected keys and shape mismatches, so a backbone built at a
different width than its checkpoint silently keeps random weights. Detection
backbones of slim_plugins load their ``Pretrained`` checkpoint through
:func:`load_pretrained_strict` instead, which raises on any mismatch.
"""
import os.path as osp
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from slim_plugins.utils.checkpoint import (load_checkpoint_file, materialise,
                                           mmengine_checkpoint_globals)
from slim_plugins.utils.export import load_state_dict_strict, strip_prefix


def is_pretrained_cfg(init_cfg: object) -> bool:
    """Whether ``init_cfg`` is a single ``Pretrained`` init config."""
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def read_pretrained(checkpoint: str,
                    prefix: Optional[str] = None,
                    map_location: str = 'cpu') -> Dict[str, torch.Tensor]:
    """Read the tensors of ``checkpoint`` below ``prefix``.

    Args:
        checkpoint (str): A path or any URL mmengine's ``CheckpointLoader``
            understands.
        prefix (str, optional): Key prefix to keep and strip, e.g.
            ``'backbone.'``. None keeps every key.
        map_location (str): Device of the loaded tensors. Defaults to
            ``'cpu'``.

    Returns:
        dict[str, Tensor]: The selected entries without the prefix.
    """
    if osp.isfile(str(checkpoint)):
        loaded = load_checkpoint_file(checkpoint, map_location)
    else:  # a URL or another mmengine scheme
        with mmengine_checkpoint_globals():
            loaded = materialise(
                CheckpointLoader.load_checkpoint(
                    checkpoint, map_location=map_location))
    state_dict = loaded.get('state_dict', loaded) if isinstance(
        loaded, dict) else loaded
    if not prefix:
        return dict(state_dict)
    if not prefix.endswith('.'):
        prefix += '.'
    selected = strip_prefix(state_dict, prefix)
    if not selected:
        raise ValueError(
            f'{checkpoint} has no key starting with prefix {prefix!r} '
            f'(first keys: '
            f'{list(state_dict)[:5]}); fix init_cfg.prefix or convert the '
            'checkpoint with tools/model_converters/ssl_to_mmdet.py.')
    return selected


def load_pretrained_strict(module: nn.Module, init_cfg: dict) -> None:
    """Load a ``Pretrained`` init config into ``module``, strictly.

    Args:
        module (nn.Module): The module to initialise.
        init_cfg (dict): ``dict(type='Pretrained', checkpoint=...,
            prefix=None, map_location='cpu')``.

    Raises:
        ValueError: If the checkpoint is not given, or any key is missing,
            unexpected or of another shape (all of them are listed).
    """
    checkpoint = init_cfg.get('checkpoint')
    if not checkpoint:
        raise ValueError(
            f'{type(module).__name__}: init_cfg={dict(init_cfg)} names no '
            'checkpoint; set init_cfg.checkpoint (e.g. --cfg-options '
            'model.backbone.init_cfg.checkpoint=PATH).')
    state_dict = read_pretrained(checkpoint, init_cfg.get('prefix'),
                                 init_cfg.get('map_location', 'cpu'))
    load_state_dict_strict(module, state_dict, source=str(checkpoint))
    print_log(
        f'{type(module).__name__}: loaded {len(state_dict)} tensors from '
        f'{checkpoint} (strict: no missing or unexpected keys)',
        logger='current')
