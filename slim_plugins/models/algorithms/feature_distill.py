# Copyright (c) slim_plugins contributors. All rights reserved.
"""Feature distillation of sub-networks (US3L ``DISTILL_FEATURE``)."""
import contextlib
from typing import Dict, Iterator, List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from slim_plugins.models.losses import cross_view_average
from slim_plugins.ops import SlimConv2d, share_width_state

Features = Dict[str, List[torch.Tensor]]


def _named_layers(module: nn.Module,
                  layers: Sequence[str]) -> Dict[str, nn.Module]:
    named = dict(module.named_modules())
    missing = [name for name in layers if name not in named]
    if missing:
        raise ValueError(
            f'feature distillation layers {missing} are not modules of '
            f'{type(module).__name__}; use names of its named_modules(), '
            f'e.g. "layer2.1.bn2" for a ResNet-18.')
    return {name: named[name] for name in layers}


@contextlib.contextmanager
def record_features(module: nn.Module,
                    layers: Sequence[str]) -> Iterator[Features]:
    """Collect the outputs of named sub-modules while the block runs.

    Forward hooks are registered on entry and removed on exit, so the
    recorded module carries no hooks outside the block.

    Args:
        module (nn.Module): The module to record from (e.g. a backbone).
        layers (Sequence[str]): Names in ``module.named_modules()``.

    Yields:
        dict[str, list[Tensor]]: For each layer, its outputs in call order
        (one per forward, e.g. view 1 then view 2).

    Example:
        >>> with record_features(backbone, ['layer4.1.bn2']) as feats:
        ...     backbone(x1), backbone(x2)
        >>> len(feats['layer4.1.bn2'])
        2
    """
    feats: Features = {name: [] for name in layers}
    handles = []

    def hook(name: str):

        def _record(_module, _inputs, output):
            feats[name].append(output)

        return _record

    try:
        for name, layer in _named_layers(module, layers).items():
            handles.append(layer.register_forward_hook(hook(name)))
        yield feats
    finally:
        for handle in handles:
            handle.remove()


def layer_channels(module: nn.Module) -> int:
    """Full output channels of a BN or conv layer.

    Args:
        module (nn.Module): A ``_BatchNorm`` or ``nn.Conv2d``.

    Returns:
        int: ``num_features`` or ``out_channels``.
    """
    if isinstance(module, _BatchNorm):
        return module.num_features
    if isinstance(module, nn.Conv2d):
        return module.out_channels
    raise TypeError(f'feature distillation reads BN or conv outputs, got a '
                    f'{type(module).__name__}; pick a bn*/conv* layer.')


class FeatureDistiller(nn.Module):
    """Match sub-network feature maps to the teacher's.

    US3L's optional feature distillation (`Cao et al., CVPR 2023
    <https://arxiv.org/abs/2303.06870>`_): the map of each named layer of
    the student at width ``w`` goes through a per-layer 1x1
    :class:`~slim_plugins.ops.SlimConv2d` (``proj_convs``: input sliced to
    the active channels, output the full channels) and is compared with the
    teacher's map of the other view by the mean squared error:

    ``L = sum_layers (MSE(P(s_1), t_2) + MSE(P(s_2), t_1)) / 2``

    (summed over layers). When the teacher map is narrower than the full
    width (a max-width teacher below 1.0), the projection is compared on its
    leading channels. The adapters follow the student's width through their
    own width state (set it with the student's, e.g. by listing this module
    in ``slimmable_modules``); their names contain ``proj_conv``, which
    GroupReg skips.

    Args:
        layers (Sequence[str]): Layer names in the backbone, e.g.
            ``['layer2.3.bn2', 'layer3.5.bn2', 'layer4.2.bn2']``.
        channels (Sequence[int]): Full channels of each layer.
        channel_rule (str): The backbone's channel rule. Defaults to
            ``'divisible8'``.
    """

    def __init__(self,
                 layers: Sequence[str],
                 channels: Sequence[int],
                 channel_rule: str = 'divisible8') -> None:
        super().__init__()
        if isinstance(layers, str) or not layers:
            raise ValueError(f'FeatureDistiller needs a non-empty list of '
                             f'layer names, got {layers!r}.')
        if len(layers) != len(channels):
            raise ValueError(f'FeatureDistiller: {len(layers)} layers but '
                             f'{len(channels)} channel counts.')
        self.layers = list(layers)
        self.proj_convs = nn.ModuleList(
            SlimConv2d(
                c, c, 1, slim_in=True, slim_out=False,
                channel_rule=channel_rule) for c in channels)
        self.width_state = share_width_state(self)

    @classmethod
    def for_backbone(cls, backbone: nn.Module,
                     layers: Sequence[str]) -> 'FeatureDistiller':
        """Build the adapters for ``layers`` of ``backbone``.

        Args:
            backbone (nn.Module): The student backbone.
            layers (Sequence[str]): Its layer names.

        Returns:
            FeatureDistiller: With the channels read from the layers.
        """
        named = _named_layers(backbone, layers)
        channels = [layer_channels(named[name]) for name in layers]
        rule = getattr(backbone, 'channel_rule', 'divisible8')
        return cls(layers, channels, channel_rule=rule)

    def forward(self, student: Features, teacher: Features) -> torch.Tensor:
        """The loss of two views' recorded maps.

        Args:
            student (dict[str, list[Tensor]]): Student maps per layer, view
                1 then view 2.
            teacher (dict[str, list[Tensor]]): Teacher maps, same layout.

        Returns:
            Tensor: Scalar loss (summed over layers).
        """
        total = 0.
        for name, proj in zip(self.layers, self.proj_convs):
            preds = [proj(feat) for feat in student[name]]
            targets = [feat.detach() for feat in teacher[name]]
            total = total + cross_view_average(_sliced_mse, preds, targets)
        return total


def _sliced_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    channels = target.size(1)
    if pred.size(1) < channels:
        raise ValueError(f'feature distillation: the projected student map '
                         f'has {pred.size(1)} channels, fewer than the '
                         f"teacher's {channels}.")
    # MSE(P(s), t) over the teacher's channels
    return F.mse_loss(pred[:, :channels], target)
