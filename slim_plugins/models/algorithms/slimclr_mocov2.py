# Copyright (c) slim_plugins contributors. All rights reserved.
"""SlimCLR-MoCoV2: a slimmable network trained with MoCo v2 at all widths.

Also holds :class:`SlimCLRWidthsMixin`, the part shared with
:class:`~slim_plugins.models.algorithms.SlimCLRMoCoV3` (width checks, the
full-width teacher branch, the online distillation settings).
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_gather
from mmengine.optim import OptimWrapper
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.models.utils import batch_shuffle_ddp, batch_unshuffle_ddp
from mmpretrain.structures import DataSample

from slim_plugins.models.losses import (DistillationLoss, InfoNCELoss,
                                        moco_logits)
from slim_plugins.models.utils import EMATeacher
from slim_plugins.ops import slim_ops
from slim_plugins.registry import MODELS
from .multi_width_step import MultiWidthTrainMixin


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=0.0, abs_tol=1e-6)


def _same_widths(a: Sequence[float], b: Sequence[float]) -> bool:
    a, b = sorted(a, reverse=True), sorted(b, reverse=True)
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


class SlimCLRWidthsMixin(MultiWidthTrainMixin):
    """Width bookkeeping of the SlimCLR algorithms.

    SlimCLR trains a switchable network (a private BN per width) at *every*
    width of its list in each step, the full width first: the full width is
    the teacher of the online distillation and the only width that produces
    keys. Before the slow start (see
    :class:`~slim_plugins.engine.samplers.SlowStartSampler`) a step trains
    the full width alone. This mixin checks that the backbone, the necks
    and the algorithm agree on the width list, and that each step's widths
    are either the full width alone or the whole list.
    """

    def init_slimclr(self, widths: Optional[Sequence[float]],
                     slimmable: Dict[str, nn.Module],
                     loss_weighting: Union[str, int], distill_weight: float,
                     distill_temperature: float) -> None:
        """Check the widths and configure the multi-width step.

        Args:
            widths (Sequence[float], optional): The widths trained after
                the slow start; None takes the backbone's list.
            slimmable (dict[str, nn.Module]): The slimmable modules by
                config name (``'backbone'`` first), checked against the
                backbone's widths.
            loss_weighting (str | int): Per-width loss weights (see
                :func:`~slim_plugins.engine.samplers.width_loss_weights`),
                applied by the multi-width step.
            distill_weight (float): ``beta`` in ``(1 - beta) * contrast +
                beta * distill`` of the sub-widths, in ``[0, 1]``.
            distill_temperature (float): Temperature of the distillation.
        """
        owner = type(self).__name__
        backbone = slimmable['backbone']
        if getattr(backbone, 'width_mode', None) != 'switchable':
            raise ValueError(
                f'{owner} needs a switchable backbone (a private BN per '
                f'width), got {type(backbone).__name__} with width_mode='
                f'{getattr(backbone, "width_mode", None)!r}; set '
                f"backbone.width_mode='switchable' (and channel_rule='int' "
                f'for SlimCLR).')
        backbone_widths = sorted(backbone.width_state.widths, reverse=True)
        if widths is None:
            widths = backbone_widths
        elif not _same_widths(widths, backbone_widths):
            raise ValueError(f'{owner}: widths={list(widths)} differ from '
                             f'the backbone widths {backbone_widths}; give '
                             f'the model, the backbone, the necks and the '
                             f'width sampler the same list.')
        for name, module in slimmable.items():
            states = {
                id(op.width_state): op.width_state
                for op in slim_ops(module)
            }
            if not states:
                raise ValueError(f'{owner}: {name} ({type(module).__name__})'
                                 f' has no slimmable layers; SlimCLR '
                                 f'slims it with the backbone (use '
                                 f'SlimMLPNeck).')
            for state in states.values():
                if state.widths is None:
                    raise ValueError(
                        f"{owner}: {name} is in 'universal' width mode; "
                        f"set its width_mode='switchable' with "
                        f'widths={backbone_widths}.')
                if not _same_widths(state.widths, backbone_widths):
                    raise ValueError(
                        f'{owner}: {name} widths {list(state.widths)} '
                        f'differ from the backbone widths '
                        f'{backbone_widths}; give both the same list.')
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f'{owner}: distill_weight={distill_weight} '
                             f'must lie in [0, 1].')
        if not distill_temperature > 0:
            raise ValueError(f'{owner}: distill_temperature='
                             f'{distill_temperature} must be > 0.')
        self.widths: List[float] = [float(w) for w in widths]
        self.teacher_width = self.widths[0]
        self.distill_weight = distill_weight
        self.distill_loss = DistillationLoss(
            mode='kl', temperature=distill_temperature)
        self.init_multi_width(
            step_mode='accumulate',
            loss_weighting=loss_weighting,
            default_widths=self.widths)

    def check_train_widths(self, widths: Sequence[float]) -> List[float]:
        """Validate the widths of one step.

        Args:
            widths (Sequence[float]): Widths of the step, any order.

        Returns:
            List[float]: The widths sorted high to low.
        """
        ordered = sorted((float(w) for w in widths), reverse=True)
        if _same_widths(ordered, [self.teacher_width]) or _same_widths(
                ordered, self.widths):
            return ordered
        raise ValueError(
            f'{type(self).__name__} trains either the full width alone '
            f'(slow start) or all widths {self.widths} in a step, got '
            f'{ordered}; make the width sampler (e.g. SlowStartSampler('
            f'sampler={self.widths})) use the same list as the backbone.')

    def set_train_widths(self, widths: Sequence[float]) -> None:
        """Set the widths of the next step (see :meth:`check_train_widths`).
        """
        super().set_train_widths(self.check_train_widths(widths))

    def is_teacher_width(self) -> bool:
        """Whether the loss forward in progress is the full-width branch."""
        if self.current_width is None:
            raise RuntimeError(
                f'{type(self).__name__}.loss runs inside the multi-width '
                f'train step (train_step), which computes the keys first; '
                f'do not call it directly.')
        return _same(self.current_width, self.teacher_width)

    @staticmethod
    def build_module(cfg: Union[dict, nn.Module]) -> nn.Module:
        """Build ``cfg`` from slim_plugins' ``MODELS`` (modules pass).

        Building here rather than in ``BaseSelfSupervisor`` (mmpretrain's
        registry) finds slim_plugins' types without a default scope.
        """
        return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)

    @staticmethod
    def check_views(inputs: List[torch.Tensor], owner: str) -> None:
        """Raise unless ``inputs`` holds (at least) two views."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise TypeError(f'{owner} needs two augmented views per image; '
                            f'use MultiView(num_views=2) in the train '
                            f'pipeline.')


@MODELS.register_module()
class SlimCLRMoCoV2(SlimCLRWidthsMixin, BaseSelfSupervisor):
    """SlimCLR-MoCoV2: all widths of a slimmable network with MoCo v2.

    `Slimmable Networks for Contrastive Self-supervised Learning (Zhao et
    al., IJCV 2024) <https://arxiv.org/abs/2209.15525>`_. Each step, for the
    query view ``x_q`` and the key view ``x_k``:

    * the key encoder ``f_k`` (an EMA of the backbone + projector, always at
      the full width) is updated and gives ``k = normalize(f_k(x_k))``
      (shuffle-BN across ranks);
    * every width ``w`` (the full width alone before the slow start) gives
      ``q_w = normalize(f_q(x_q; w))`` and the logits
      ``l_w = [q_w . k, q_w^T Q]`` against the queue ``Q``;
    * ``NCE_w = CE(l_w / tau, 0)``; the full width's loss is ``NCE_1``;
      a sub-width's loss is ``(1 - beta) NCE_w + beta KD_w`` with
      ``KD_w`` the soft cross-entropy from the (detached) full-width logits
      ``l_1`` of the same step;
    * the multi-width step weights width ``w`` by ``lambda_w``
      (``loss_weighting``; option 5 gives ``[2.5, 1, 1, 1]``), accumulates
      the gradients and steps the optimizer once;
    * the full-width keys of the whole batch are enqueued once.

    Distillation logits. By default the distillation sees the contrastive
    distribution itself, ``KD_w = T^2 CE(softmax(l_1 / (tau T)),
    softmax(l_w / (tau T)))`` with ``T = distill_temperature`` (1 by
    default). The reference implementation applies the temperature to the
    *raw cosines* (``softmax(l / T)`` with ``T = 5``), i.e. at a 25x higher
    effective temperature than the contrastive loss, where the soft targets
    are almost uniform over the ``K + 1`` entries (see the spec's pitfall
    B.10-2). ``kd_on_raw_cosines=True`` with ``distill_temperature=5``
    reproduces it.

    Args:
        backbone (dict): A switchable :class:`SlimResNet` config.
        neck (dict): The slimmable projector (``SlimMLPNeck``, 2048w ->
            2048w -> 128 in the paper).
        queue_len (int): Number of negative keys ``K``. Defaults to 65536.
        feat_dim (int): Dimension of the keys. Defaults to 128.
        momentum (float): Momentum ``m`` of the key encoder,
            ``theta_k <- m theta_k + (1 - m) theta_q`` (the paper's
            convention; mmpretrain's ``MoCo`` passes ``1 - m``). Defaults to
            0.999.
        temperature (float): Contrastive temperature ``tau``. Defaults to
            0.2.
        distill_weight (float): ``beta``. Defaults to 0.5.
        distill_temperature (float): ``T`` of the distillation. Defaults
            to 1.0.
        kd_on_raw_cosines (bool): Distil from the raw cosines instead of
            the logits divided by ``tau`` (the reference). Defaults to
            False.
        widths (Sequence[float], optional): Widths trained after the slow
            start; defaults to (and must equal) the backbone's list.
        loss_weighting (str | int): Per-width loss weights (see
            :func:`~slim_plugins.engine.samplers.width_loss_weights`).
            Defaults to 5.
        shuffle_bn (bool): Shuffle the key batch across ranks (MoCo's
            shuffle-BN). Defaults to True.
        pretrained (str, optional): Checkpoint to initialise from.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict | list[dict], optional): Initialisation config.

    Example:
        >>> model = MODELS.build(dict(
        ...     type='SlimCLRMoCoV2',
        ...     backbone=dict(type='SlimResNet', depth=50, stem='imagenet',
        ...                   width_mode='switchable', channel_rule='int'),
        ...     neck=dict(type='SlimMLPNeck', in_channels=2048,
        ...               hid_channels=2048, out_channels=128,
        ...               width_mode='switchable', channel_rule='int')))
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 queue_len: int = 65536,
                 feat_dim: int = 128,
                 momentum: float = 0.999,
                 temperature: float = 0.2,
                 distill_weight: float = 0.5,
                 distill_temperature: float = 1.0,
                 kd_on_raw_cosines: bool = False,
                 widths: Optional[Sequence[float]] = None,
                 loss_weighting: Union[str, int] = 5,
                 shuffle_bn: bool = True,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(
            backbone=self.build_module(backbone),
            neck=self.build_module(neck),
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        owner = type(self).__name__
        if isinstance(queue_len,
                      bool) or not isinstance(queue_len, int) or queue_len < 1:
            raise ValueError(f'{owner}: queue_len={queue_len!r} must be a '
                             f'positive int.')
        out_channels = getattr(self.neck, 'out_channels', feat_dim)
        if out_channels != feat_dim:
            raise ValueError(f'{owner}: feat_dim={feat_dim} differs from the '
                             f'projector output neck.out_channels='
                             f'{out_channels}; give both the same value.')
        self.init_slimclr(widths, dict(backbone=self.backbone, neck=self.neck),
                          loss_weighting, distill_weight, distill_temperature)
        self.contrast_loss = InfoNCELoss(temperature=temperature)
        self.temperature = temperature
        self.kd_on_raw_cosines = kd_on_raw_cosines
        self.shuffle_bn = shuffle_bn
        self.queue_len = queue_len
        self.feat_dim = feat_dim
        # theta_k <- m theta_k + (1 - m) theta_q, run at the full width
        self.encoder_k = EMATeacher([self.backbone, self.neck],
                                    momentum=momentum,
                                    width=self.teacher_width)
        self.register_buffer(
            'queue', F.normalize(torch.randn(feat_dim, queue_len), dim=0))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))
        self._keys: Optional[torch.Tensor] = None
        self._teacher_logits: Optional[torch.Tensor] = None

    def init_weights(self) -> None:
        """Initialise the online network, then copy it into ``encoder_k``.
        """
        super().init_weights()
        self.encoder_k.sync()

    # ------------------------------------------------------------------
    # keys and queue (full width only, once per step)
    # ------------------------------------------------------------------
    @torch.no_grad()
    def compute_keys(self, key_view: torch.Tensor) -> torch.Tensor:
        """Update the key encoder and compute the full-width keys.

        Args:
            key_view (Tensor): ``N x C x H x W`` key images.

        Returns:
            Tensor: ``N x feat_dim`` L2-normalised keys.
        """
        self.encoder_k.update()
        if self.shuffle_bn:
            key_view, idx_unshuffle = batch_shuffle_ddp(key_view)
        keys = F.normalize(self.encoder_k(key_view)[0], dim=1)
        if self.shuffle_bn:
            keys = batch_unshuffle_ddp(keys, idx_unshuffle)
        return keys

    @torch.no_grad()
    def dequeue_and_enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest queue entries with the keys of all ranks.

        Args:
            keys (Tensor): ``N x feat_dim`` keys of this rank.
        """
        keys = torch.cat(all_gather(keys), dim=0)
        batch = keys.size(0)
        if batch > self.queue_len:
            raise ValueError(f'{type(self).__name__}: the global batch '
                             f'({batch}) is larger than queue_len='
                             f'{self.queue_len}; raise queue_len.')
        ptr = int(self.queue_ptr)
        index = (ptr + torch.arange(batch, device=keys.device)) % \
            self.queue_len
        self.queue[:, index] = keys.t().to(self.queue.dtype)
        self.queue_ptr[0] = (ptr + batch) % self.queue_len

    def prepare_multi_width_step(self, inputs: List[torch.Tensor],
                                 data_samples: Optional[List[DataSample]],
                                 widths: List[float]) -> None:
        """Compute the step's keys before the first width."""
        # check_train_widths made the full width the first of the step.
        self.check_views(inputs, type(self).__name__)
        self._keys = self.compute_keys(inputs[1])
        self._teacher_logits = None

    def multi_width_train_step(
            self,
            data: Union[dict, tuple, list],
            optim_wrapper: OptimWrapper,
            forward_module: Optional[nn.Module] = None
    ) -> Dict[str, torch.Tensor]:
        """The multi-width step, then one enqueue of the full-width keys."""
        try:
            log_vars = super().multi_width_train_step(data, optim_wrapper,
                                                      forward_module)
            self.dequeue_and_enqueue(self._keys)
        finally:
            self._keys = self._teacher_logits = None
        return log_vars

    # ------------------------------------------------------------------
    # the loss of one width
    # ------------------------------------------------------------------
    def distill_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits fed to the distillation: ``l / tau`` or the raw ``l``."""
        return logits if self.kd_on_raw_cosines else logits / self.temperature

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Loss of the current width (see the class docstring).

        Args:
            inputs (List[Tensor]): The query and key views.
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
        query = F.normalize(self.neck(self.backbone(inputs[0]))[0], dim=1)
        # l_w = [q_w . k, q_w^T Q]
        logits = moco_logits(query, self._keys, self.queue.clone().detach())
        nce = self.contrast_loss(logits)
        if teacher:
            self._teacher_logits = logits.detach()
            return dict(loss_contrast=nce)
        if self._teacher_logits is None:
            raise RuntimeError(f'{type(self).__name__}: the full width must '
                               f'run before the sub-widths in a step.')
        distill = self.distill_loss(
            self.distill_logits(logits),
            self.distill_logits(self._teacher_logits))
        beta = self.distill_weight
        # (1 - beta) NCE_w + beta KD_w
        return dict(
            loss_contrast=(1 - beta) * nce, loss_distill=beta * distill)
