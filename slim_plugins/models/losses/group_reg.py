# Copyright (c) slim_plugins contributors. All rights reserved.
"""GroupReg: channel-group-wise L2 regularisation of US3L.

From US3L (`Cao et al., CVPR 2023
<https://arxiv.org/abs/2303.06870>`_). The channels of a tensor are split
along dim 0 into ``K`` contiguous groups; group ``i`` is decayed with its own
coefficient ``lambda_i``. Early channels (used by every sub-network) are
decayed more than late ones (used only by wide networks):

* ``e < E_w`` (warm-up): ``lambda_i = lambda`` (plain L2);
* ramp progress ``r = (e - E_w) / (E_r - E_w)`` for ``e < E_r``, else 1;
* ``'linear'``: ``lambda_i = lambda (1 - alpha r i)``; with the US3L
  setting (``alpha = 0.05, K = 8``) the last group ends at ``0.65 lambda``;
* ``'exp'``: ``lambda_i = lambda b^i`` with base ``b = 1 - (1 - alpha) r``.

**Differences from the reference implementation** (each reproducible with a
flag, off by default):

* ``exp`` ramp. The reference uses ``b = alpha r``, so at the start of the
  ramp (``r = 0``) every group but the first gets ``0^i = 0``: the decay of
  7/8 of the channels drops from ``lambda`` to zero in one epoch and then
  creeps back. We interpolate the base from 1 (plain L2, continuous with
  the warm-up) to ``alpha`` (the same end point as the reference).
  ``reproduce_exp_ramp_bug=True`` restores ``b = alpha r``.
* Binning. The reference uses groups of ``C // K`` channels with the
  remainder in the last group, so a tensor with ``C < K`` channels puts
  *every* channel in the last (least decayed) group. By default channel
  ``c`` goes to group ``floor(c K / C)`` (contiguous, sizes differ by at
  most one, channel 0 always in group 0); this equals the reference whenever
  ``K`` divides ``C``. ``binning='reference'`` restores the reference.
* 2-D (Linear) weights get the plain ``lambda`` in both (as in the spec):
  the first projector layer is slimmed on its *input* dim and the last one
  has a fixed output dim, so grouping over dim 0 would be wrong for them.
  ``group_linear_weights=True`` groups them over dim 0 like conv weights.

The penalty is accumulated in float64 and returned as float32.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from slim_plugins.registry import MODELS

DECAY_TYPES = ('linear', 'exp')
BINNINGS = ('even', 'reference')


def group_reg_coefficients(
        epoch: float,
        max_epochs: int,
        lambda_: float = 5e-5,
        alpha: float = 0.05,
        bins: int = 8,
        decay_type: str = 'linear',
        warmup_epochs: float = 0,
        ramp_end_epoch: Optional[float] = None,
        reproduce_exp_ramp_bug: bool = False) -> List[float]:
    """The per-group coefficients ``lambda_0 .. lambda_{K-1}`` at ``epoch``.

    Args:
        epoch (float): Current 0-based epoch.
        max_epochs (int): Length of the schedule ``E``.
        lambda_ (float): Base coefficient ``lambda``. Defaults to 5e-5.
        alpha (float): Decay strength ``alpha``. Defaults to 0.05.
        bins (int): Number of groups ``K``. Defaults to 8.
        decay_type (str): ``'linear'`` or ``'exp'``. Defaults to
            ``'linear'``.
        warmup_epochs (float): ``E_w``, epochs of plain L2. Defaults to 0.
        ramp_end_epoch (float, optional): ``E_r``, where ``alpha`` reaches
            its full value; defaults to ``E // 2``. A value below ``E_w``
            acts as ``E_w`` (``alpha`` jumps to full at ``E_w``).
        reproduce_exp_ramp_bug (bool): Use the reference ``exp`` base
            ``alpha r`` (see the module docstring). Defaults to False.

    Returns:
        List[float]: ``K`` coefficients, group 0 first.
    """
    _check_hparams(lambda_, alpha, bins, decay_type, warmup_epochs,
                   ramp_end_epoch)
    if isinstance(max_epochs,
                  bool) or not isinstance(max_epochs, int) or max_epochs <= 0:
        raise ValueError(f'group_reg_coefficients: max_epochs={max_epochs!r} '
                         f'must be a positive int.')
    if not math.isfinite(epoch) or epoch < 0:
        raise ValueError(f'group_reg_coefficients: epoch={epoch} must be '
                         f'>= 0.')
    if warmup_epochs > max_epochs:
        raise ValueError(f'GroupRegLoss: warmup_epochs={warmup_epochs} is '
                         f'beyond max_epochs={max_epochs}, so the group '
                         f'decay would never start; lower `warmup_epochs`.')
    if epoch < warmup_epochs:
        return [float(lambda_)] * bins
    ramp_end = max_epochs // 2 if ramp_end_epoch is None else ramp_end_epoch
    ramp_end = max(ramp_end, warmup_epochs)
    # r = (e - E_w) / (E_r - E_w) for e < E_r, else 1
    if epoch < ramp_end:
        progress = (epoch - warmup_epochs) / (ramp_end - warmup_epochs)
    else:
        progress = 1.0
    if decay_type == 'linear':
        # lambda_i = lambda * (1 - alpha_e * i), alpha_e = alpha * r
        alpha_e = alpha * progress
        return [lambda_ * (1.0 - alpha_e * i) for i in range(bins)]
    if reproduce_exp_ramp_bug:
        # reference: lambda_i = lambda * (alpha * r)^i, 0^0 = 1
        base = alpha * progress
    else:
        # lambda_i = lambda * b^i, b = 1 - (1 - alpha) * r
        base = 1.0 - (1.0 - alpha) * progress
    return [lambda_ * base**i for i in range(bins)]


def channel_groups(num_channels: int,
                   bins: int,
                   binning: str = 'even') -> torch.Tensor:
    """Group index of every channel along dim 0.

    Args:
        num_channels (int): ``C``, the size of dim 0.
        bins (int): ``K``, the number of groups.
        binning (str): ``'even'``: channel ``c`` in group
            ``floor(c K / C)``; ``'reference'``: groups of ``C // K``
            channels, the remainder (or all channels when ``C < K``) in the
            last group. Defaults to ``'even'``.

    Returns:
        Tensor: ``C`` group indices (long) in ``[0, K)``, non-decreasing.
    """
    if binning not in BINNINGS:
        raise ValueError(f'channel_groups: binning={binning!r} is not '
                         f'supported; choose one of {BINNINGS}.')
    channels = torch.arange(num_channels)
    if binning == 'even':
        # g(c) = floor(c * K / C)
        return torch.div(channels * bins, num_channels, rounding_mode='floor')
    size = num_channels // bins
    if size == 0:
        return torch.full((num_channels, ), bins - 1, dtype=torch.long)
    # g(c) = min(c // floor(C / K), K - 1)
    return torch.clamp(channels // size, max=bins - 1)


def _check_hparams(lambda_: float, alpha: float, bins: int, decay_type: str,
                   warmup_epochs: float,
                   ramp_end_epoch: Optional[float]) -> None:
    owner = 'GroupRegLoss'
    if decay_type not in DECAY_TYPES:
        raise ValueError(f'{owner}: decay_type={decay_type!r} is not '
                         f'supported; choose one of {DECAY_TYPES}.')
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f'{owner}: bins={bins!r} must be an int >= 1.')
    if lambda_ < 0:
        raise ValueError(f'{owner}: lambda_={lambda_} must be >= 0.')
    if alpha < 0:
        raise ValueError(f'{owner}: alpha={alpha} must be >= 0.')
    if decay_type == 'linear' and alpha * (bins - 1) > 1:
        raise ValueError(f'{owner}: with decay_type="linear", alpha={alpha} '
                         f'and bins={bins} give the last group a negative '
                         f'coefficient 1 - alpha * (bins - 1) = '
                         f'{1 - alpha * (bins - 1):g}; use '
                         f'alpha <= 1 / (bins - 1).')
    if warmup_epochs < 0:
        raise ValueError(f'{owner}: warmup_epochs={warmup_epochs} must be '
                         f'>= 0.')
    if ramp_end_epoch is not None and ramp_end_epoch < 0:
        raise ValueError(f'{owner}: ramp_end_epoch={ramp_end_epoch} must be '
                         f'>= 0.')


@MODELS.register_module()
class GroupRegLoss(nn.Module):
    """US3L GroupReg: ``R = sum_params sum_elements lambda_mask * p^2``.

    See the module docstring for the coefficients and for what differs from
    the reference code. Which tensors get which mask:

    * 1-D tensors (norm weights/biases, Linear biases) and tensors with
      ``ndim >= 3`` (conv weights): grouped over dim 0 (output channels);
    * 2-D tensors (Linear weights) and scalars: plain ``lambda`` (unless
      ``group_linear_weights``);
    * parameters whose name contains one of ``exclude_keys`` (the momentum
      teacher, feature-distillation adapters) or that do not require grad
      are skipped;
    * parameters whose name contains one of ``predictor_keys`` are skipped
      when ``skip_predictor`` is true in :meth:`forward`, by default when
      ``width == predictor_skip_width`` (1.0: the reference skips the
      sub-network predictor exactly at full width, where it is unused).

    The penalty is added at every width step; it replaces weight decay (set
    the optimizer's ``weight_decay`` to 0). It equals per-element weight
    decay ``2 lambda_i``.

    Args:
        lambda_ (float): Base coefficient. Defaults to 5e-5 (half of the
            usual weight decay 1e-4).
        alpha (float): Decay strength. Defaults to 0.05.
        bins (int): Number of channel groups ``K``. Defaults to 8.
        decay_type (str): ``'linear'`` or ``'exp'``. Defaults to
            ``'linear'``.
        warmup_epochs (float): Epochs of plain L2 before the ramp. Defaults
            to 0.
        ramp_end_epoch (float, optional): Epoch where ``alpha`` is reached;
            defaults to ``max_epochs // 2``.
        exclude_keys (Sequence[str]): Name substrings of parameters never
            regularised. Defaults to ``('encoder_k', 'target', 'momentum',
            'proj_conv')``.
        predictor_keys (Sequence[str]): Name substrings of the sub-network
            predictor. Defaults to ``('predictor', )``.
        predictor_skip_width (float, optional): Width at which predictor
            parameters are skipped when :meth:`forward` gets no
            ``skip_predictor``; None never skips them. Defaults to 1.0.
        binning (str): ``'even'`` or ``'reference'`` (see
            :func:`channel_groups`). Defaults to ``'even'``.
        group_linear_weights (bool): Group 2-D weights over dim 0 too.
            Defaults to False.
        reproduce_exp_ramp_bug (bool): Reference ``exp`` ramp. Defaults to
            False.

    Example:
        >>> reg = GroupRegLoss(lambda_=5e-5, alpha=0.05, bins=8)
        >>> [round(c / 5e-5, 2) for c in reg.coefficients(300, 400)]
        [1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65]
    """

    def __init__(self,
                 lambda_: float = 5e-5,
                 alpha: float = 0.05,
                 bins: int = 8,
                 decay_type: str = 'linear',
                 warmup_epochs: float = 0,
                 ramp_end_epoch: Optional[float] = None,
                 exclude_keys: Sequence[str] = ('encoder_k', 'target',
                                                'momentum', 'proj_conv'),
                 predictor_keys: Sequence[str] = ('predictor', ),
                 predictor_skip_width: Optional[float] = 1.0,
                 binning: str = 'even',
                 group_linear_weights: bool = False,
                 reproduce_exp_ramp_bug: bool = False) -> None:
        super().__init__()
        _check_hparams(lambda_, alpha, bins, decay_type, warmup_epochs,
                       ramp_end_epoch)
        if binning not in BINNINGS:
            raise ValueError(f'GroupRegLoss: binning={binning!r} is not '
                             f'supported; choose one of {BINNINGS}.')
        for keys, name in ((exclude_keys, 'exclude_keys'), (predictor_keys,
                                                            'predictor_keys')):
            if isinstance(keys, str):
                raise TypeError(f'GroupRegLoss: `{name}` must be a sequence '
                                f'of strings, got the string {keys!r}.')
        self.lambda_ = lambda_
        self.alpha = alpha
        self.bins = bins
        self.decay_type = decay_type
        self.warmup_epochs = warmup_epochs
        self.ramp_end_epoch = ramp_end_epoch
        self.exclude_keys = tuple(exclude_keys)
        self.predictor_keys = tuple(predictor_keys)
        self.predictor_skip_width = predictor_skip_width
        self.binning = binning
        self.group_linear_weights = group_linear_weights
        self.reproduce_exp_ramp_bug = reproduce_exp_ramp_bug
        self._groups: Dict[Tuple[int, torch.device], torch.Tensor] = {}

    def coefficients(self, epoch: float, max_epochs: int) -> List[float]:
        """Per-group coefficients at ``epoch`` (see
        :func:`group_reg_coefficients`).

        Args:
            epoch (float): Current 0-based epoch.
            max_epochs (int): Length of the schedule.

        Returns:
            List[float]: ``bins`` coefficients, group 0 first.
        """
        return group_reg_coefficients(
            epoch,
            max_epochs,
            lambda_=self.lambda_,
            alpha=self.alpha,
            bins=self.bins,
            decay_type=self.decay_type,
            warmup_epochs=self.warmup_epochs,
            ramp_end_epoch=self.ramp_end_epoch,
            reproduce_exp_ramp_bug=self.reproduce_exp_ramp_bug)

    def selected_parameters(
            self, module: nn.Module,
            skip_predictor: bool) -> List[Tuple[str, nn.Parameter]]:
        """The ``(name, parameter)`` pairs that are regularised.

        Args:
            module (nn.Module): The model.
            skip_predictor (bool): Leave out predictor parameters.

        Returns:
            List[Tuple[str, Parameter]]: In ``named_parameters`` order.
        """
        selected = []
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if any(key in name for key in self.exclude_keys):
                continue
            if skip_predictor and any(key in name
                                      for key in self.predictor_keys):
                continue
            selected.append((name, param))
        return selected

    def _channel_groups(self, num_channels: int,
                        device: torch.device) -> torch.Tensor:
        key = (num_channels, device)
        if key not in self._groups:
            self._groups[key] = channel_groups(num_channels, self.bins,
                                               self.binning).to(device)
        return self._groups[key]

    def forward(self,
                module: nn.Module,
                epoch: float,
                max_epochs: int,
                width: float,
                skip_predictor: Optional[bool] = None) -> torch.Tensor:
        """The penalty ``R`` of ``module``'s parameters.

        Args:
            module (nn.Module): The model (its full tensors are penalised,
                active or not at ``width``).
            epoch (float): Current 0-based epoch.
            max_epochs (int): Length of the schedule.
            width (float): Width of the current step, in ``(0, 1]``.
            skip_predictor (bool, optional): Leave out predictor
                parameters. Defaults to ``width == predictor_skip_width``.
                An algorithm whose predictor is only used by sub-networks
                should pass ``width == widths[0]`` (the teacher branch),
                which also covers sandwich-off sampling.

        Returns:
            Tensor: Scalar float32 ``R`` (accumulated in float64).
        """
        if not 0 < width <= 1:
            raise ValueError(f'GroupRegLoss: width={width} must be in '
                             f'(0, 1].')
        if skip_predictor is None:
            skip_predictor = (
                self.predictor_skip_width is not None
                and width == self.predictor_skip_width)
        coeffs = self.coefficients(epoch, max_epochs)
        params = self.selected_parameters(module, skip_predictor)
        device = params[0][1].device if params else torch.device('cpu')
        group_coeffs = torch.tensor(coeffs, dtype=torch.float64, device=device)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for _, param in params:
            if param.numel() == 0:
                continue
            squared = param.to(torch.float64)**2
            grouped = param.dim() == 1 or param.dim() >= 3 or (
                param.dim() == 2 and self.group_linear_weights)
            if grouped:
                num_channels = param.size(0)
                groups = self._channel_groups(num_channels, param.device)
                # R += sum_c lambda_{g(c)} * sum_k p[c, k]^2
                per_channel = squared.reshape(num_channels, -1).sum(dim=1)
                total = total + (group_coeffs.to(param.device)[groups] *
                                 per_channel).sum().to(device)
            else:
                # R += lambda * sum p^2
                total = total + self.lambda_ * squared.sum().to(device)
        return total.to(torch.float32)
