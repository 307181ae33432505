# Copyright (c) slim_plugins contributors. All rights reserved.
"""Input-dependent channel gate with a binary Gumbel-sigmoid."""
from typing import Optional

import torch
import torch.nn as nn

from slim_plugins.registry import MODELS


@MODELS.register_module()
class ChannelGate(nn.Module):
    """Per-sample binary mask over a block's intermediate channels.

    The gate of `Unification (Krishna et al., BMVC 2023)
    <https://arxiv.org/abs/2301.09164>`_: logits ``a = W2 ReLU(BN(W1 s))``
    from the global average ``s`` of the block input (``W1``: 1x1 conv
    ``C_in -> floor(C_in / reduction)``, ``W2``: 1x1 conv to ``C_mid``, no
    biases). The mask is a binary Gumbel-sigmoid:

    * training: with logistic noise ``g = log(u) - log(1 - u)``,
      ``u ~ U(0, 1)``, the soft value ``y = sigmoid((a + g) / tau)`` and the
      hard mask ``1[y >= 0.5]``; the forward returns the hard mask, the
      gradient is that of ``y`` (straight-through);
    * evaluation: ``1[a >= 0]``, no noise.

    Args:
        in_channels (int): Channels of the block input.
        out_channels (int): Channels masked (``C_mid``).
        reduction (int): Hidden width divisor. Defaults to 4.
        tau (float): Temperature, ``> 0``. Defaults to 0.66667.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 reduction: int = 4,
                 tau: float = 0.66667) -> None:
        super().__init__()
        if isinstance(tau, bool) or not isinstance(
                tau, (int, float)) or tau <= 0:
            raise ValueError(f'ChannelGate: tau={tau!r} must be a number > 0 '
                             f'(the paper: 0.66667).')
        if reduction < 1 or in_channels // reduction < 1:
            raise ValueError(f'ChannelGate: reduction={reduction} leaves no '
                             f'hidden channel of in_channels={in_channels}.')
        hidden = in_channels // reduction
        self.tau = float(tau)
        self.fc1 = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.out_channels = out_channels

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``N x C_mid`` gate logits of a block input ``N x C_in x H x W``."""
        s = x.mean(dim=(2, 3), keepdim=True)
        return self.fc2(self.relu(self.bn(self.fc1(s)))).flatten(1)

    def forward(self,
                x: torch.Tensor,
                noise: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The ``N x C_mid`` mask of ``x`` (values 0 and 1).

        Args:
            x (Tensor): Block input, ``N x C_in x H x W``.
            noise (Tensor, optional): Logistic noise ``g`` (``N x C_mid``)
                to use in training instead of a fresh draw (tests).
            generator (torch.Generator, optional): Generator of the draw.

        Returns:
            Tensor: The hard mask; in training it carries the
            straight-through gradient of the soft value.
        """
        a = self.logits(x)
        if not self.training:
            return (a >= 0).to(a.dtype)
        if noise is None:
            u = torch.rand(a.shape, generator=generator, device=a.device,
                           dtype=a.dtype)
            noise = torch.log(u + 1e-8) - torch.log(1 - u + 1e-8)
        elif noise.shape != a.shape:
            raise ValueError(f'ChannelGate: noise of shape '
                             f'{tuple(noise.shape)} does not match the '
                             f'logits {tuple(a.shape)}.')
        soft = torch.sigmoid((a + noise) / self.tau)
        hard = (soft >= 0.5).to(soft.dtype)
        return (hard - soft).detach() + soft

    def macs(self) -> int:
        """MACs of the two 1x1 convolutions on the pooled input (pooling,
        BN and ReLU not counted)."""
        hidden = self.fc1.out_channels
        return self.fc1.in_channels * hidden + hidden * self.out_channels

    def extra_repr(self) -> str:
        return f'tau={self.tau}'
