# Copyright (c) slim_plugins contributors. All rights reserved.
"""SGD under a LARS wrapper (clip mode), the optimiser of EMP-SSL and the
Unification paper's VICReg."""
from typing import Callable, Iterable, Optional

import torch

from slim_plugins.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class LARSSGD(torch.optim.SGD):
    """``torch.optim.SGD`` whose gradients LARS rescales first.

    The "LARS wrapper" of solo-learn / PL-bolts, which EMP-SSL (eta 0.005)
    and Unification (eta 0.02) wrap around SGD. Before the SGD step, for
    every parameter with more than one dimension::

        r = eta * ||p|| / (||g|| + wd * ||p|| + 1e-8)
        r = min(r / lr, 1)                      # clip mode
        g = (g + wd * p) * r

    and the SGD step then runs without weight decay. One-dimensional
    parameters (biases, BN) get neither the rescaling nor weight decay.

    mmpretrain's ``LARS`` is another update: it puts the learning rate
    inside the momentum buffer (so a schedule changes past steps' weight),
    has no clip mode and still decays excluded parameters.

    The original wrapper also skips the weight decay of a parameter whose
    gradient is exactly zero (or whose norm is zero); this class applies
    the formula there too (``r = eta / wd`` before clipping), and
    ``skip_zero_grad_decay=True`` reproduces the original.

    Args:
        params (Iterable): Parameters or parameter groups.
        lr (float): Learning rate.
        momentum (float): SGD momentum. Defaults to 0.
        weight_decay (float): Weight decay of the multi-dimensional
            parameters (applied by LARS). Defaults to 0.
        nesterov (bool): Nesterov momentum. Defaults to False.
        eta (float): LARS trust coefficient. Defaults to 0.001.
        clip (bool): Clip ``r / lr`` at 1. Defaults to True.
        exclude_bias_n_norm (bool): Leave 1-D parameters out of LARS and
            weight decay. Defaults to True.
        skip_zero_grad_decay (bool): Reproduce the original's skipped
            weight decay for a zero gradient. Defaults to False.
        eps (float): Added to the denominator. Defaults to 1e-8.
    """

    def __init__(self,
                 params: Iterable,
                 lr: float,
                 momentum: float = 0.,
                 weight_decay: float = 0.,
                 nesterov: bool = False,
                 eta: float = 0.001,
                 clip: bool = True,
                 exclude_bias_n_norm: bool = True,
                 skip_zero_grad_decay: bool = False,
                 eps: float = 1e-8) -> None:
        if eta <= 0:
            raise ValueError(f'LARSSGD: eta={eta} must be > 0.')
        super().__init__(params, lr=lr, momentum=momentum,
                         weight_decay=weight_decay, nesterov=nesterov)
        self.eta = eta
        self.clip = clip
        self.exclude_bias_n_norm = exclude_bias_n_norm
        self.skip_zero_grad_decay = skip_zero_grad_decay
        self.eps = eps

    @torch.no_grad()
    def _rescale(self, group: dict) -> None:
        weight_decay, lr = group['weight_decay'], group['lr']
        for param in group['params']:
            if param.grad is None:
                continue
            if self.exclude_bias_n_norm and param.dim() == 1:
                continue
            grad = param.grad
            param_norm = torch.linalg.vector_norm(param)
            grad_norm = torch.linalg.vector_norm(grad)
            if param_norm == 0 or (grad_norm == 0
                                   and self.skip_zero_grad_decay):
                continue
            # r = eta ||p|| / (||g|| + wd ||p|| + eps); clip: min(r / lr, 1)
            ratio = self.eta * param_norm / (
                grad_norm + weight_decay * param_norm + self.eps)
            if self.clip:
                ratio = torch.clamp(ratio / lr, max=1.)
            # g <- (g + wd p) r
            grad.add_(param, alpha=weight_decay).mul_(ratio)

    @torch.no_grad()
    def step(self, closure: Optional[Callable] = None):
        """LARS-rescale the gradients, then one SGD step without decay."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        decays = []
        for group in self.param_groups:
            self._rescale(group)
            decays.append(group['weight_decay'])
            group['weight_decay'] = 0.
        try:
            super().step()
        finally:
            for group, decay in zip(self.param_groups, decays):
                group['weight_decay'] = decay
        return loss
