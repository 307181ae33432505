# Copyright (c) slim_plugins contributors. All rights reserved.
"""MACs and active parameters of a slim backbone, per width.

Counts come from the *exported* network (:class:`NarrowResNet`) at each
width, built on the ``meta`` device: its shapes are exact, nothing is
allocated or computed, and parameters are those the width really uses (the
slim network itself always holds the full tensors).

Counted (by :func:`slim_plugins.utils.flops.count_macs`): multiply-accumulates
of every convolution (stem, blocks, downsamples) and, if ``num_classes`` is
given, of a linear classifier on the pooled last stage; BN, ReLU, pooling and
additions are not counted. Params include BN affine parameters (not running
statistics).
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from slim_plugins.models.backbones import NarrowResNet
from slim_plugins.utils.flops import count_macs
from .subnet_export import find_slim_resnet


class WidthComplexity(NamedTuple):
    """Cost of a backbone at one width.

    Args:
        width (float): The width.
        macs (int): Multiply-accumulates of one forward of one image.
        params (int): Parameters of the network at that width.
    """

    width: float
    macs: int
    params: int


def width_complexity(model: nn.Module,
                     widths: Sequence[float],
                     input_shape: Tuple[int, int, int] = (3, 224, 224),
                     num_classes: Optional[int] = None
                     ) -> List[WidthComplexity]:
    """MACs and active parameters of a SlimResNet at each width.

    Args:
        model (nn.Module): A SlimResNet or a model whose ``backbone`` is one.
        widths (Sequence[float]): Widths the backbone accepts.
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of one image.
            Defaults to ``(3, 224, 224)``.
        num_classes (int, optional): Add a linear classifier on the pooled
            last stage (as in the papers' tables). Defaults to None
            (backbone only).

    Returns:
        list[WidthComplexity]: One entry per width, in the given order.

    Example:
        >>> from slim_plugins.models.backbones import SlimResNet
        >>> rows = width_complexity(SlimResNet(18), [1.0], (3, 32, 32))
        >>> round(rows[0].macs / 1e6)
        555
    """
    backbone = find_slim_resnet(model)
    rows = []
    for width in widths:
        kwargs = backbone.narrow_kwargs(width)
        # Running statistics make BN a per-image op in eval mode; without
        # them BN would refuse the single image of a 1x1 last stage.
        kwargs.update(
            out_indices=(3, ), frozen_stages=-1, track_running_stats=True)
        with torch.device('meta'):
            net = NarrowResNet(**kwargs).eval()
            inputs = torch.empty(1, *input_shape)
        macs = count_macs(net, inputs)
        params = sum(p.numel() for p in net.parameters())
        if num_classes is not None:
            features = net.channels.out[-1]
            macs += features * num_classes
            params += features * num_classes + num_classes
        rows.append(WidthComplexity(float(width), macs, params))
    return rows
