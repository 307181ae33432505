# Copyright (c) slim_plugins contributors. All rights reserved.
"""State dicts of sub-networks, and strict loading.

:func:`subnet_state_dict` works on any module tree built from slim ops (each
op hands over the leading slices it would use at that width); turning a
``SlimResNet`` into a plain ``NarrowResNet`` is
:func:`slim_plugins.models.utils.export_subnet`, one layer up.
"""
from typing import Dict, List, Mapping, Optional

import torch
import torch.nn as nn

from slim_plugins.ops import SlimMixin, using_width
from slim_plugins.utils.bn_calibration import BANK_NAME


def _collect(module: nn.Module, prefix: str,
             out: Dict[str, torch.Tensor]) -> None:
    if isinstance(module, SlimMixin):
        for key, value in module.export_state().items():
            out[prefix + key] = value.detach().clone()
        # A slim op's children (a switchable BN's other widths) belong to
        # other widths and are not part of the sub-network.
        return
    for key, param in module._parameters.items():
        if param is not None:
            out[prefix + key] = param.detach().clone()
    for key, buf in module._buffers.items():
        if buf is not None and key not in module._non_persistent_buffers_set:
            out[prefix + key] = buf.detach().clone()
    for name, child in module._modules.items():
        # The calibration bank holds every width's statistics; the
        # sub-network's own are already in its BN buffers.
        if child is not None and name != BANK_NAME:
            _collect(child, f'{prefix}{name}.', out)


def subnet_state_dict(
        module: nn.Module,
        width: Optional[float] = None) -> Dict[str, torch.Tensor]:
    """State dict of the plain network equal to ``module`` at ``width``.

    Args:
        module (nn.Module): Any module tree holding slim ops.
        width (float, optional): Defaults to the active width.

    Returns:
        dict[str, Tensor]: Contiguous copies, keyed like the plain layers
        (no ``switch_bns`` entries).
    """
    state: Dict[str, torch.Tensor] = {}
    if width is None:
        _collect(module, '', state)
    else:
        with using_width(module, width):
            _collect(module, '', state)
    return state


def strip_prefix(state_dict: Mapping[str, torch.Tensor],
                 prefix: str) -> Dict[str, torch.Tensor]:
    """Keys starting with ``prefix``, with the prefix removed.

    Args:
        state_dict (Mapping[str, Tensor]): A (model) state dict.
        prefix (str): E.g. ``'backbone.'``; empty keeps everything.

    Returns:
        dict[str, Tensor]: The selected entries.
    """
    return {
        key[len(prefix):]: value
        for key, value in state_dict.items() if key.startswith(prefix)
    }


def load_state_dict_strict(module: nn.Module,
                           state_dict: Mapping[str, torch.Tensor],
                           source: str = 'checkpoint') -> None:
    """Load ``state_dict`` strictly; list every mismatch in a ValueError.

    Args:
        module (nn.Module): Destination.
        state_dict (Mapping[str, Tensor]): Source tensors.
        source (str): Name of the source in the error message.
    """
    own = module.state_dict()
    shape_errors: List[str] = [
        f'{key}: {tuple(value.shape)} in {source}, {tuple(own[key].shape)} '
        'in model' for key, value in state_dict.items()
        if key in own and tuple(value.shape) != tuple(own[key].shape)
    ]
    if shape_errors:
        raise ValueError(
            f'{source} does not fit {type(module).__name__}: shape '
            f'mismatch for {len(shape_errors)} key(s):\n  ' +
            '\n  '.join(shape_errors) + '\nCheck depth, stem, width_mode/'
            'widths and channel_rule of the backbone config.')
    result = module.load_state_dict(dict(state_dict), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f'{source} does not fit {type(module).__name__}:\n'
            f'  missing keys: {result.missing_keys}\n'
            f'  unexpected keys: {result.unexpected_keys}\n'
            'Check the prefix (backbone.) and the backbone config.')
