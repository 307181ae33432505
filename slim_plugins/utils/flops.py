# Copyright (c) slim_plugins contributors. All rights reserved.
"""Multiply-accumulates of a network's forward.

Counted: multiply-accumulates of every convolution and linear layer; BN,
ReLU, pooling and additions are not. The per-width table of a slim backbone
built on it is :func:`slim_plugins.models.utils.width_complexity`.
"""
from typing import Tuple

import torch
import torch.nn as nn


def count_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """MACs of the convolutions and linear layers of one forward.

    Args:
        model (nn.Module): Any module; run on ``inputs`` once.
        inputs (Tensor): The input batch (may live on the meta device).

    Returns:
        int: MACs per sample (``inputs.shape[0]`` divides the total).
    """
    total = [0]

    def conv_hook(module: nn.Conv2d, args: Tuple[torch.Tensor],
                  output: torch.Tensor) -> None:
        # MACs = output elements * (C_in / groups) * k_h * k_w
        kernel = module.kernel_size[0] * module.kernel_size[1]
        total[0] += output.numel() * (module.in_channels //
                                      module.groups) * kernel

    def linear_hook(module: nn.Linear, args: Tuple[torch.Tensor],
                    output: torch.Tensor) -> None:
        # MACs = output elements * in_features
        total[0] += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total[0] // inputs.shape[0]
