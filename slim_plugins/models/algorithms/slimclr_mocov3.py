# Copyright (c) slim_plugins contributors. All rights reserved.
"""SlimCLR-MoCoV3: a slimmable network trained with MoCo v3 at all widths."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather, get_rank
from mmengine.logging import MessageHub
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from slim_plugins.models.losses import MoCoV3ContrastiveLoss
from slim_plugins.models.utils import EMATeacher
from slim_plugins.registry import MODELS
from .slimclr_mocov2 import SlimCLRWidthsMixin


@MODELS.register_module()
class SlimCLRMoCoV3(SlimCLRWidthsMixin, BaseSelfSupervisor):
    """SlimCLR-MoCoV3: all widths of a slimmable network with MoCo v3.

    `Slimmable Networks for Contrastive Self-supervised Learning (Zhao et
    al., IJCV 2024) <https://arxiv.org/abs/2209.15525>`_. Each step, for the
    two views ``x_1``, ``x_2``:

    * the momentum encoder ``f_m`` (an EMA of the backbone + projector,
      always at the full width) is updated and gives the keys
      ``k_i = normalize(f_m(x_i))``, gathered over all ranks (``K_i``);
    * every width ``w`` (the full width alone before the slow start) gives
      ``q_w^i = pred(proj(f(x_i; w); w); w)``;
    * ``S(q, K) = 2 tau CE(normalize(q) K^T / tau, y)`` with ``y`` the
      positive's index in the gathered batch; the full width's loss is
      ``S(q_1^1, K_2) + S(q_1^2, K_1)``; a sub-width's loss is, summed over
      both directions ``(i, j)``, ``(1 - beta) S(q_w^i, K_j) + beta
      KD(q_w^i K_j^T / tau, q_1^i K_j^T / tau)`` with the soft
      cross-entropy ``KD`` at temperature ``T`` from the detached
      full-width logits of the same step;
    * the multi-width step weights width ``w`` by ``lambda_w``
      (``loss_weighting``; option 5 gives ``[2.5, 1, 1, 1]``), accumulates
      the gradients and steps the optimizer once.

    The momentum of the EMA ``theta_m <- m theta_m + (1 - m) theta`` rises
    from ``momentum`` (0.99) to 1 with a cosine over training,
    ``m(t) = 1 - (1 - momentum) (1 + cos(pi t)) / 2`` where ``t = iter /
    max_iters`` is read from the runner's message hub (set by mmengine's
    ``RuntimeInfoHook``, so a resumed run continues the schedule).

    BN: the reference uses SyncBN; the switchable BNs here are per rank
    (mmengine's SyncBN conversion would replace them by plain BNs).

    Args:
        backbone (dict): A switchable :class:`SlimResNet` config.
        neck (dict): The slimmable projector (``SlimMLPNeck``, 2048w ->
            4096w -> 256 with switchable BN in the paper).
        predictor (dict): The slimmable predictor (``SlimMLPNeck`` with
            ``slim_in=False, with_avg_pool=False``, 256 -> 4096w -> 256).
        momentum (float): Momentum ``m`` at the start of training (the
            paper's convention; mmpretrain's ``MoCoV3`` passes
            ``base_momentum = 1 - m``). Defaults to 0.99.
        end_momentum (float): Momentum at the end of training. Defaults
            to 1.0.
        temperature (float): ``tau``. Defaults to 1.0.
        distill_weight (float): ``beta``. Defaults to 0.5.
        distill_temperature (float): ``T``. Defaults to 1.0.
        widths (Sequence[float], optional): Widths trained after the slow
            start; defaults to (and must equal) the backbone's list.
        loss_weighting (str | int): Per-width loss weights. Defaults to 5.
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 predictor: dict,
                 momentum: float = 0.99,
                 end_momentum: float = 1.0,
                 temperature: float = 1.0,
                 distill_weight: float = 0.5,
                 distill_temperature: float = 1.0,
                 widths: Optional[Sequence[float]] = None,
                 loss_weighting: Union[str, int] = 5,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=self.build_module(backbone),
            neck=self.build_module(neck),
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.predictor = self.build_module(predictor)
        self.init_slimclr(
            widths,
            dict(
                backbone=self.backbone,
                neck=self.neck,
                predictor=self.predictor), loss_weighting, distill_weight,
            distill_temperature)
        self.temperature = temperature
        self.contrast_loss = MoCoV3ContrastiveLoss(temperature=temperature)
        self.momentum_encoder = EMATeacher([self.backbone, self.neck],
                                           momentum=momentum,
                                           momentum_schedule='cosine',
                                           end_momentum=end_momentum,
                                           width=self.teacher_width)
        self._keys: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self._label_offset = 0
        self._teacher_logits: Optional[List[torch.Tensor]] = None

    def init_weights(self) -> None:
        """Initialise the online network, then copy it into the momentum
        encoder."""
        super().init_weights()
        self.momentum_encoder.sync()

    def training_progress(self) -> float:
        """Fraction of training done, ``iter / max_iters``.

        Read from the message hub, where mmengine's ``RuntimeInfoHook``
        writes ``iter`` before every training iteration.

        Returns:
            float: Progress in ``[0, 1]``.
        """
        hub = MessageHub.get_current_instance()
        current, total = hub.get_info('iter'), hub.get_info('max_iters')
        if current is None or not total:
            raise RuntimeError(
                f'{type(self).__name__} anneals its momentum over training '
                f'and reads `iter` and `max_iters` from the message hub; '
                f'train with an mmengine Runner (or set both with '
                f'MessageHub.get_current_instance().update_info).')
        return min(max(current / total, 0.0), 1.0)

    def slimmable_modules(self) -> List[nn.Module]:
        """Backbone, projector and predictor (never the momentum encoder).
        """
        return [self.backbone, self.neck, self.predictor]

    @torch.no_grad()
    def compute_keys(
        self, views: List[torch.Tensor]
    ) -> Tuple[Tuple[torch.Tensor, torch.Tensor], int]:
        """Update the momentum encoder and compute the full-width keys.

        Args:
            views (List[Tensor]): The two views of this rank's batch.

        Returns:
            tuple: The L2-normalised keys of both views gathered over all
            ranks (``M x C`` each) and the column of this rank's first
            positive (``rank * N``).
        """
        self.momentum_encoder.update(progress=self.training_progress())
        keys = []
        for view in views[:2]:
            key = F.normalize(self.momentum_encoder(view)[0], dim=1)
            keys.append(torch.cat(all_gather(key), dim=0))
        return (keys[0], keys[1]), get_rank() * views[0].size(0)

    def prepare_multi_width_step(self, inputs: List[torch.Tensor],
                                 data_samples: Optional[List[DataSample]],
                                 widths: List[float]) -> None:
        """Compute the step's keys before the first width."""
        # check_train_widths made the full width the first of the step.
        self.check_views(inputs, type(self).__name__)
        self._keys, self._label_offset = self.compute_keys(inputs)
        self._teacher_logits = None

    def multi_width_train_step(self, *args,
                               **kwargs) -> Dict[str, torch.Tensor]:
        """The multi-width step; the step's keys are dropped afterwards."""
        try:
            return super().multi_width_train_step(*args, **kwargs)
        finally:
            self._keys = self._teacher_logits = None

    def query(self, view: torch.Tensor) -> torch.Tensor:
        """``normalize(pred(proj(f(x))))`` at the current width."""
        out = self.predictor(self.neck(self.backbone(view)))[0]
        return F.normalize(out, dim=1)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Symmetric loss of the current width (see the class docstring).

        Args:
            inputs (List[Tensor]): The two views.
            data_samples (List[DataSample], optional): Unused.

        Returns:
            dict[str, Tensor]: ``loss_contrast`` and, for a sub-width,
            ``loss_distill``; already multiplied by ``1 - beta`` and
            ``beta`` (the per-width weight is applied by the step).
        """
        teacher = self.is_teacher_width()
        if self._keys is None:
            raise RuntimeError(f'{type(self).__name__}: no keys for this '
                               f'step; train through train_step.')
        self.check_views(inputs, type(self).__name__)
        offset = self._label_offset
        # direction i -> j: queries of view i against the keys of view j
        pairs = [(self.query(inputs[0]), self._keys[1]),
                 (self.query(inputs[1]), self._keys[0])]
        # S(q^1, K_2) + S(q^2, K_1)
        contrast = sum(
            self.contrast_loss(q, k, label_offset=offset) for q, k in pairs)
        logits = [q @ k.t() / self.temperature for q, k in pairs]
        if teacher:
            self._teacher_logits = [lg.detach() for lg in logits]
            return dict(loss_contrast=contrast)
        if self._teacher_logits is None:
            raise RuntimeError(f'{type(self).__name__}: the full width must '
                               f'run before the sub-widths in a step.')
        # KD(q_w^1 K_2^T / tau, q_1^1 K_2^T / tau) + (view 2 -> view 1)
        distill = sum(
            self.distill_loss(s, t)
            for s, t in zip(logits, self._teacher_logits))
        beta = self.distill_weight
        return dict(
            loss_contrast=(1 - beta) * contrast, loss_distill=beta * distill)
