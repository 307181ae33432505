# Copyright (c) slim_plugins contributors. All rights reserved.
"""Switchable linear probe: one linear classifier per width (SlimCLR)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import ClsHead
from mmpretrain.structures import DataSample

from slim_plugins.ops import (SlimMixin, SwitchableBatchNorm1d, WidthState,
                              share_width_state, width_key)
from slim_plugins.registry import MODELS


@MODELS.register_module()
class SwitchableLinearClsHead(SlimMixin, ClsHead):
    """A private linear classifier per width, with in-place distillation.

    The switchable linear probe of `SlimCLR
    <https://arxiv.org/abs/2209.15525>`_ (``--slim_fc supervised_switch
    --inplace_distill 1``): width ``w`` of ``widths`` has its own
    ``nn.Linear(c(in_channels, w), num_classes)`` (``c`` given by
    ``channel_rule``), because one weight-shared linear layer is a poor probe
    for every width at once. The head holds its own switchable
    :class:`~slim_plugins.ops.WidthState`, so ``using_width(head, w)`` (or the
    classifier's multi-width step / loops) selects the classifier.

    Loss at width ``w`` with logits ``s_w`` and labels ``y``::

        L_max = CE(s_max, y)                                  # largest width
        L_w   = (1 - d) * CE(s_w, y) + d * CE(s_w, softmax(s_max).detach())

    where ``d = distill_weight`` and the soft target comes from the
    largest-width logits of the *same batch*, cached by the largest-width
    loss that the multi-width step runs first in each iteration (widths go
    high to low). ``d = 0`` trains independent probes.

    With ``feature_norm`` a parameter-free BN (``affine=False``, one per
    width, as in MAE's linear-probe protocol, see
    :class:`~slim_plugins.models.necks.FeatureNormNeck`) standardises the
    features in front of each classifier; every width keeps its own
    statistics.

    State-dict layout: ``fcs.<w>.weight/bias`` (``<w>`` as in
    :func:`~slim_plugins.ops.width_key`, e.g. ``fcs.0_75``) and, with
    ``feature_norm``, ``norm.*`` (switchable BN layout). In export
    (:func:`~slim_plugins.utils.export.subnet_state_dict`) the head at width
    ``w`` gives ``fc.weight``/``fc.bias`` (the keys of mmpretrain's
    ``LinearClsHead``) plus ``norm.running_mean``/``norm.running_var``.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Feature channels at full width.
        widths (Sequence[float]): Widths with a classifier. Defaults to
            ``(1.0, 0.75, 0.5, 0.25)``.
        channel_rule (str): ``'divisible8'`` (US3L) or ``'int'`` (SlimCLR):
            active features of each width. Defaults to ``'divisible8'``.
        distill_weight (float): ``d`` in ``[0, 1]`` above. Defaults to 0.5.
        feature_norm (bool): Parameter-free BN before each classifier.
            Defaults to True.
        loss (dict): Label loss config. Defaults to
            ``dict(type='CrossEntropyLoss')``.
        topk (int | tuple[int]): Top-k accuracy. Defaults to ``(1, )``.
        cal_acc (bool): Log training accuracy. Defaults to False.
        init_cfg (dict, optional): Defaults to ``Normal(std=0.01)`` on the
            Linear layers (mmpretrain's ``LinearClsHead``).

    Example:
        >>> import torch
        >>> from slim_plugins.ops import using_width
        >>> head = SwitchableLinearClsHead(10, 64, channel_rule='int')
        >>> with using_width(head, 0.5):
        ...     head((torch.rand(4, 32), )).shape
        torch.Size([4, 10])
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 widths: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                 channel_rule: str = 'divisible8',
                 distill_weight: float = 0.5,
                 feature_norm: bool = True,
                 loss: dict = dict(type='CrossEntropyLoss'),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)) -> None:
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f'num_classes={num_classes!r} must be a '
                             'positive integer.')
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f'in_channels={in_channels!r} must be a '
                             'positive integer (the full-width features).')
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f'distill_weight={distill_weight} must lie in '
                             '[0, 1] (0: independent probes).')
        ordered = sorted({float(w) for w in widths}, reverse=True)
        if not widths or len(ordered) != len(widths) or not all(
                0.0 < w <= 1.0 for w in ordered):
            raise ValueError(f'SwitchableLinearClsHead(widths='
                             f'{list(widths)}) must be distinct numbers in '
                             '(0, 1].')
        self._init_slim(channel_rule)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.widths: List[float] = ordered
        self.distill_weight = float(distill_weight)
        self.feature_norm = feature_norm
        self.fcs = nn.ModuleDict({
            width_key(w): nn.Linear(self.active(in_channels, w), num_classes)
            for w in ordered
        })
        self.norm = SwitchableBatchNorm1d(
            in_channels,
            widths=ordered,
            eps=1e-6,
            affine=False,
            channel_rule=channel_rule) if feature_norm else None
        state = WidthState(widths=ordered, owner='SwitchableLinearClsHead')
        self.width_state = share_width_state(self, state)
        # Largest-width soft targets of the latest batch (see `loss`).
        self._teacher: Optional[Tuple[List[DataSample], torch.Tensor]] = None

    @property
    def width(self) -> float:
        """The active width."""
        return self.width_state.width

    def active_features(self, width: Optional[float] = None) -> int:
        """Input features of the classifier of ``width``.

        Args:
            width (float, optional): Defaults to the active width.

        Returns:
            int: ``c(in_channels, width)``.
        """
        width = self.width if width is None else self.width_state.check(width)
        return self.active(self.in_channels, width)

    @property
    def fc(self) -> nn.Linear:
        """The classifier of the active width."""
        return self.fcs[width_key(self.width)]

    def pre_logits(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The last tensor of ``feats``, normalised when ``feature_norm``."""
        x = feats[-1]
        expected = self.active_features()
        if x.dim() != 2 or x.size(1) != expected:
            raise ValueError(
                f'SwitchableLinearClsHead at width {self.width:g} expects '
                f'(N, {expected}) features (in_channels={self.in_channels}, '
                f'channel_rule={self.channel_rule!r}) but got '
                f'{tuple(x.shape)}; pool the backbone output with a neck '
                '(GlobalAveragePooling) and check in_channels/channel_rule '
                'against the backbone.')
        if self.norm is not None:
            x = self.norm(x)
        return x

    def forward(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Logits of the active width's classifier."""
        return self.fc(self.pre_logits(feats))

    def _soft_targets(self, data_samples: List[DataSample]) -> torch.Tensor:
        """Cached largest-width probabilities of this very batch."""
        cached = self._teacher
        if cached is not None:
            samples, probs = cached
            if len(samples) == len(data_samples) and all(
                    a is b for a, b in zip(samples, data_samples)):
                return probs
        raise ValueError(
            f'SwitchableLinearClsHead: the loss of width {self.width:g} '
            f'distils from the largest-width ({self.widths[0]:g}) logits of '
            f'the same batch (distill_weight={self.distill_weight}), but no '
            f'largest-width loss of this batch was computed before it. '
            f'Train {self.widths[0]:g} first in every step (add it to the '
            f"model's `widths` / the width sampler) or set "
            f'distill_weight=0 for independent probes.')

    def _get_loss(self, cls_score: torch.Tensor,
                  data_samples: List[DataSample],
                  **kwargs) -> Dict[str, torch.Tensor]:
        """Label loss, plus in-place distillation below the largest width."""
        if 'gt_score' in data_samples[0]:
            target = torch.stack([i.gt_score for i in data_samples])
        else:
            target = torch.cat([i.gt_label for i in data_samples])
        label_loss = self.loss_module(
            cls_score, target, avg_factor=cls_score.size(0), **kwargs)
        losses: Dict[str, torch.Tensor] = {}
        if self.width == self.widths[0]:
            self._teacher = (list(data_samples),
                             F.softmax(cls_score.detach(), dim=1))
            losses['loss'] = label_loss
        elif self.distill_weight == 0.0:
            losses['loss'] = label_loss
        else:
            d = self.distill_weight
            soft = self._soft_targets(data_samples)
            # CE(s_w, p) = -mean_n sum_k p_nk log softmax(s_w)_nk
            distill = -(soft * F.log_softmax(cls_score, dim=1)).sum(1).mean()
            losses['loss_cls'] = (1.0 - d) * label_loss
            losses['loss_distill'] = d * distill
        if self.cal_acc:
            if target.ndim != 1:
                raise ValueError('cal_acc=True needs integer labels; it is '
                                 'meaningless with batch augmentations '
                                 '(mixup/cutmix).')
            acc = Accuracy.calculate(cls_score, target, topk=self.topk)
            losses.update(
                {f'accuracy_top-{k}': a
                 for k, a in zip(self.topk, acc)})
        return losses

    def export_state(self) -> Dict[str, torch.Tensor]:
        """Tensors of the plain probe at the active width.

        Returns:
            dict[str, Tensor]: ``fc.weight``, ``fc.bias`` and, with
            ``feature_norm``, the ``norm.*`` statistics of this width.
        """
        state = {f'fc.{k}': v for k, v in self.fc.state_dict().items()}
        if self.norm is not None:
            state.update({
                f'norm.{k}': v
                for k, v in self.norm.export_state().items()
            })
        return state

    def extra_repr(self) -> str:
        return (f'widths={self.widths}, channel_rule={self.channel_rule!r}, '
                f'distill_weight={self.distill_weight}')
