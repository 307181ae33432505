# Copyright (c) slim_plugins contributors. All rights reserved.
"""Sub-network export: a slim model at one width -> a plain static network.

Where a width is *exported*. :func:`subnet_state_dict` works on any module
tree built from slim ops (each op hands over the leading slices it would use
at that width); :func:`export_subnet` turns a :class:`SlimResNet` into a
:class:`NarrowResNet` holding physically sliced copies of the weights and BN
statistics (for switchable BN: the BN of that width), loaded strictly.
"""
from typing import Any, Dict, List, Mapping, Optional

import torch
import torch.nn as nn

from slim_plugins.models.backbones import NarrowResNet, SlimResNet
from slim_plugins.ops import SlimMixin, using_width


def find_slim_resnet(model: nn.Module) -> SlimResNet:
    """Return ``model`` if it is a SlimResNet, else ``model.backbone``.

    Args:
        model (nn.Module): A SlimResNet or a model (classifier, SSL
            algorithm) whose ``backbone`` is one.

    Returns:
        SlimResNet: The backbone.
    """
    if isinstance(model, SlimResNet):
        return model
    backbone = getattr(model, 'backbone', None)
    if isinstance(backbone, SlimResNet):
        return backbone
    raise TypeError(f'expected a SlimResNet or a model whose `backbone` is '
                    f'one, got {type(model).__name__} (backbone: '
                    f'{type(backbone).__name__}).')


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
        if child is not None:
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


def export_subnet(model: nn.Module, width: float) -> NarrowResNet:
    """Export a SlimResNet (or a model's SlimResNet backbone) at ``width``.

    Args:
        model (nn.Module): A SlimResNet or a model whose ``backbone`` is one.
        width (float): A width the backbone accepts.

    Returns:
        NarrowResNet: A static network whose outputs equal the slim
        backbone's at ``width`` (same train/eval mode); its tensors are
        sliced copies, independent of the source.

    Example:
        >>> narrow = export_subnet(SlimResNet(depth=18), 0.5)
        >>> narrow.channels.out
        (32, 64, 128, 256)
    """
    backbone = find_slim_resnet(model)
    narrow = NarrowResNet(**backbone.narrow_kwargs(width))
    narrow.load_state_dict(subnet_state_dict(backbone, width), strict=True)
    narrow.train(backbone.training)
    return narrow


def mmpretrain_config(model: nn.Module,
                      width: float) -> Optional[Dict[str, Any]]:
    """mmpretrain ``ResNet``/``ResNet_CIFAR`` config equal to ``width``.

    E.g. a US-rule ResNet at 0.5 is ``ResNet(base_channels=32,
    stem_channels=32)``; at 0.3 (stages 24/40/80/152) it is not expressible.

    Args:
        model (nn.Module): A SlimResNet or a model whose ``backbone`` is one.
        width (float): A width the backbone accepts.

    Returns:
        dict | None: The backbone config, or None if not expressible.
    """
    backbone = find_slim_resnet(model)
    kwargs = backbone.narrow_kwargs(width)
    with torch.device('meta'):
        narrow = NarrowResNet(**kwargs)
    return narrow.mmpretrain_config()


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
