# Copyright (c) slim_plugins contributors. All rights reserved.
"""US3L: universally slimmable self-supervised learning."""
import contextlib
import logging
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper
from mmpretrain.models import BaseSelfSupervisor

from slim_plugins.models.losses import cross_view_average
from slim_plugins.models.utils import EMATeacher
from slim_plugins.ops import get_width, slim_ops
from slim_plugins.registry import MODELS
from .feature_distill import FeatureDistiller, record_features
from .multi_width_step import MultiWidthTrainMixin

VARIANTS = ('simclr', 'byol')
Views = List[torch.Tensor]


def _build(cfg: Union[dict, nn.Module]) -> nn.Module:
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


def _first(out: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
    """The tensor of a neck's ``(Tensor, )`` output."""
    return out if isinstance(out, torch.Tensor) else out[0]


@MODELS.register_module()
class US3L(MultiWidthTrainMixin, BaseSelfSupervisor):
    """Universally slimmable self-supervised learning.

    Implementation of `Three Guidelines You Should Know for Universally
    Slimmable Self-Supervised Learning (Cao et al., CVPR 2023)
    <https://arxiv.org/abs/2303.06870>`_. One slimmable network (backbone +
    projector) is trained at several widths per iteration (chosen by a
    :class:`~slim_plugins.engine.hooks.WidthSamplingHook`, sorted high to
    low):

    * **teacher branch** (the largest width of the step): the online output
      (SimCLR: the projection; BYOL: ``predictor`` of it) is trained with the
      base SSL loss against the momentum teacher's outputs, cross-view
      (SimCLR-Momentum: :class:`InfoNCEv2DistillLoss`, tau 0.5; BYOL:
      :class:`NegativeCosineLoss`);
    * **sub-networks** (the other widths): the projection goes through the
      auxiliary predictor (``aux_predictor``; BYOL's "new distill head") and
      is distilled, cross-view, to the teacher targets with ``distill_loss``
      times ``distill_lambda``; optionally feature maps of named layers are
      distilled too (see :class:`FeatureDistiller`).

    The momentum teacher (:class:`~slim_plugins.models.utils.EMATeacher`,
    ``target_net``) is a copy of backbone + projector held at width 1.0. It
    is updated **once per iteration**, immediately before its targets are
    computed (:meth:`prepare_multi_width_step`, before the first width), and
    the same targets serve every width of the iteration. With
    ``teacher='max_width'`` the sub-networks are distilled to the current
    student at the step's largest width instead (in-place distillation);
    the EMA copy still provides the teacher-branch targets.

    ``distill=False`` trains every width like the teacher branch, each
    against its own target: the EMA copy run at the same width (reference
    ``DISTILL=False``).

    With ``group_reg`` the :class:`GroupRegLoss` penalty (at the runner's
    current epoch) is added at every width step, and the optimizer's weight
    decay is set to 0 at the first train step (logged), as the reference
    does: GroupReg replaces weight decay.

    ``step_mode='per_width'`` (default, as the reference) updates the
    parameters after every width; ``'accumulate'`` sums the widths' gradients
    and steps once (a different algorithm, see the spec).

    Loss names in the log: ``loss_base``, ``loss_distill``,
    ``loss_feature_distill``, ``loss_group_reg``, each with a width suffix
    (e.g. ``loss_distill@w0.5``).

    Args:
        backbone (dict): The slimmable backbone, e.g. a ``SlimResNet`` with
            ``track_running_stats=False``.
        neck (dict): The projector, e.g. ``SlimMLPNeck(512, 2048, 256,
            num_layers=3, norm='bn', slim_hidden=False)``.
        aux_predictor (dict, optional): Predictor of the sub-networks,
            required when ``distill``; unused (not built) otherwise.
        predictor (dict, optional): Teacher-branch predictor; required by
            ``variant='byol'``, not allowed for ``'simclr'``.
        variant (str): ``'simclr'`` (SimCLR-Momentum) or ``'byol'``.
            Defaults to ``'simclr'``.
        base_loss (dict, optional): Teacher-branch loss; defaults to
            ``InfoNCEv2DistillLoss(temperature=0.5)`` (simclr) or
            ``NegativeCosineLoss`` (byol).
        distill_loss (dict, optional): Sub-network loss. Defaults to
            ``NegativeCosineLoss``.
        distill (bool): Distil sub-networks to the teacher. Defaults to True.
        distill_lambda (float): Weight of the distillation loss. Defaults
            to 1.0.
        teacher (str): Distillation teacher, ``'ema'`` or ``'max_width'``.
            Defaults to ``'ema'``.
        momentum (float, optional): EMA momentum of ``target_net``; None
            means no EMA copy: the teacher-branch targets are then the
            online projections themselves, detached (a stop-gradient,
            SimSiam-like variant), which excludes ``teacher='ema'``.
            Defaults to 0.99.
        momentum_schedule (str): ``'constant'`` or ``'cosine'`` (to
            ``end_momentum``). Defaults to ``'constant'`` (US3L CNN).
        end_momentum (float): End of the cosine schedule. Defaults to 1.0.
        teacher_width (float): Width of the EMA copy. Defaults to 1.0.
        feature_distill_layers (Sequence[str], optional): Backbone layers
            whose maps are distilled (e.g. ``['layer2.3.bn2', 'layer3.5.bn2',
            'layer4.2.bn2']``). Defaults to None (off).
        feature_distill_lambda (float): Weight of the feature loss.
            Defaults to 1.0.
        group_reg (dict, optional): A ``GroupRegLoss`` config. Defaults to
            None (off).
        step_mode (str): ``'per_width'`` or ``'accumulate'``. Defaults to
            ``'per_width'``.
        loss_weighting (str | int): See
            :func:`~slim_plugins.engine.samplers.width_loss_weights`.
            Defaults to ``'uniform'``.
        default_widths (Sequence[float], optional): Widths used without a
            sampler hook. Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 aux_predictor: Optional[dict] = None,
                 predictor: Optional[dict] = None,
                 variant: str = 'simclr',
                 base_loss: Optional[dict] = None,
                 distill_loss: Optional[dict] = None,
                 distill: bool = True,
                 distill_lambda: float = 1.0,
                 teacher: str = 'ema',
                 momentum: Optional[float] = 0.99,
                 momentum_schedule: str = 'constant',
                 end_momentum: float = 1.0,
                 teacher_width: float = 1.0,
                 feature_distill_layers: Optional[Sequence[str]] = None,
                 feature_distill_lambda: float = 1.0,
                 group_reg: Optional[dict] = None,
                 step_mode: str = 'per_width',
                 loss_weighting: Union[str, int] = 'uniform',
                 default_widths: Optional[Sequence[float]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        self._check_args(variant, predictor, aux_predictor, distill, teacher,
                         momentum, distill_lambda, feature_distill_layers,
                         feature_distill_lambda)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('type', 'SelfSupDataPreprocessor')
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            backbone=_build(backbone),
            neck=_build(neck),
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.variant = variant
        self.distill = distill
        self.distill_lambda = distill_lambda
        self.teacher = teacher
        self.feature_distill_lambda = feature_distill_lambda
        self.predictor = None if predictor is None else _build(predictor)
        self.aux_predictor = _build(aux_predictor) if distill else None
        if base_loss is None:
            base_loss = dict(
                type='InfoNCEv2DistillLoss', temperature=0.5
            ) if variant == 'simclr' else dict(type='NegativeCosineLoss')
        self.base_loss = _build(base_loss)
        self.distill_loss = _build(
            distill_loss or dict(type='NegativeCosineLoss'))
        students = [self.backbone, self.neck]
        self.target_net = None if momentum is None else EMATeacher(
            students,
            teacher='ema',
            momentum=momentum,
            momentum_schedule=momentum_schedule,
            end_momentum=end_momentum,
            width=teacher_width)
        self.max_width_teacher = EMATeacher(
            students, teacher='max_width'
        ) if distill and teacher == 'max_width' else None
        self.feature_distiller = None if not feature_distill_layers \
            else FeatureDistiller.for_backbone(self.backbone,
                                               feature_distill_layers)
        self.group_reg = None if group_reg is None else _build(group_reg)
        self._weight_decay_checked = False
        self._optim_wrapper: Optional[OptimWrapper] = None
        self._clear_targets()
        self.init_multi_width(step_mode, loss_weighting, default_widths)

    @staticmethod
    def _check_args(variant: str, predictor: Optional[dict],
                    aux_predictor: Optional[dict], distill: bool,
                    teacher: str, momentum: Optional[float],
                    distill_lambda: float,
                    feature_distill_layers: Optional[Sequence[str]],
                    feature_distill_lambda: float) -> None:
        if variant not in VARIANTS:
            raise ValueError(f'US3L: variant={variant!r} is not supported; '
                             f'choose one of {VARIANTS}.')
        if variant == 'byol' and predictor is None:
            raise ValueError('US3L(variant="byol") needs `predictor` (the '
                             'teacher-branch predictor) in the model config.')
        if variant == 'simclr' and predictor is not None:
            raise ValueError('US3L(variant="simclr") has no teacher-branch '
                             'predictor; remove `predictor` from the model '
                             'config (sub-networks use `aux_predictor`).')
        if teacher not in ('ema', 'max_width'):
            raise ValueError(f'US3L: teacher={teacher!r} is not supported; '
                             f'choose "ema" or "max_width".')
        if distill and teacher == 'ema' and momentum is None:
            raise ValueError(
                'US3L: distillation to the EMA teacher (distill=True, '
                'teacher="ema") needs an EMA teacher, but momentum=None; set '
                'momentum (e.g. 0.99), or teacher="max_width", or '
                'distill=False in the model config.')
        if distill and aux_predictor is None:
            raise ValueError('US3L: distill=True needs `aux_predictor` (the '
                             'predictor of the sub-networks) in the model '
                             'config.')
        if distill_lambda < 0 or feature_distill_lambda < 0:
            raise ValueError(f'US3L: distill_lambda={distill_lambda} and '
                             f'feature_distill_lambda='
                             f'{feature_distill_lambda} must be >= 0.')
        if feature_distill_layers and not distill:
            raise ValueError('US3L: feature_distill_layers needs distill='
                             'True (features are distilled to the teacher).')

    # ------------------------------------------------------------------
    # set-up
    # ------------------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise, then copy the student into the EMA teacher.

        ``init_weights`` re-initialises the EMA copy independently of the
        student; the teacher must start equal to it (a fresh deep copy).
        """
        super().init_weights()
        if self.target_net is not None:
            self.target_net.sync([self.backbone, self.neck])

    def slimmable_modules(self) -> List[nn.Module]:
        """Student modules holding slim ops; never the teacher."""
        modules = [
            self.backbone, self.neck, self.predictor, self.aux_predictor,
            self.feature_distiller
        ]
        return [m for m in modules if m is not None and slim_ops(m)]

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _clear_targets(self) -> None:
        self._base_targets: Optional[Views] = None
        self._distill_targets: Optional[Views] = None
        self._teacher_feats: Optional[Dict[str, Views]] = None

    @staticmethod
    def _check_views(inputs: Union[torch.Tensor, Sequence[torch.Tensor]]
                     ) -> Views:
        if isinstance(inputs, torch.Tensor) or len(inputs) != 2:
            got = (f'a tensor of shape {tuple(inputs.shape)}' if isinstance(
                inputs, torch.Tensor) else f'{len(inputs)} views')
            raise ValueError(f'US3L takes two augmented views per image (a '
                             f'list of 2 tensors, e.g. from the MultiView '
                             f'transform with num_views=2), got {got}.')
        return list(inputs)

    def _autocast(self):
        """The optimizer wrapper's context (AMP) for the teacher forward."""
        if self._optim_wrapper is None:
            return contextlib.nullcontext()
        return self._optim_wrapper.optim_context(self)

    @staticmethod
    def _runtime_info() -> Dict[str, float]:
        hub = MessageHub.get_current_instance()
        return dict(
            epoch=hub.get_info('epoch', 0),
            max_epochs=hub.get_info('max_epochs', 1),
            iter=hub.get_info('iter', 0),
            max_iters=hub.get_info('max_iters', 0))

    def _progress(self) -> float:
        info = self._runtime_info()
        return info['iter'] / info['max_iters'] if info['max_iters'] else 0.

    def _project(self, view: torch.Tensor) -> torch.Tensor:
        return _first(self.neck(self.backbone(view)))

    def _teacher_outputs(self, teacher: EMATeacher, views: Views,
                         width: Optional[float],
                         record: bool) -> tuple:
        """Teacher projections of both views (and recorded feature maps)."""
        feats = None
        with contextlib.ExitStack() as stack:
            if record:
                feats = stack.enter_context(
                    record_features(teacher.networks[0],
                                    self.feature_distiller.layers))
            outs = [_first(teacher(view, width=width)) for view in views]
        return outs, feats

    def _prepare_targets(self, views: Views, widths: List[float]) -> None:
        """Teacher targets shared by all widths of the step."""
        self._clear_targets()
        if not self.distill:
            return  # every width computes its own target
        has_subnets = len(widths) > 1
        record = has_subnets and self.feature_distiller is not None
        with self._autocast():
            if self.target_net is not None:
                self._base_targets, feats = self._teacher_outputs(
                    self.target_net, views, None,
                    record and self.teacher == 'ema')
            if not has_subnets:
                return
            if self.teacher == 'ema':
                self._distill_targets = self._base_targets
                self._teacher_feats = feats
            else:
                self._distill_targets, self._teacher_feats = \
                    self._teacher_outputs(self.max_width_teacher, views,
                                          widths[0], record)

    def _teacher_head(self, projections: Views) -> Views:
        if self.predictor is None:
            return projections
        return [_first(self.predictor((z, ))) for z in projections]

    def _self_targets(self, views: Views, projections: Views,
                      width: float) -> Views:
        """``distill=False``: the EMA copy at the same width (or a stop-grad
        of the online projections without an EMA copy)."""
        if self.target_net is None:
            return [z.detach() for z in projections]
        with self._autocast():
            return [_first(self.target_net(v, width=width)) for v in views]

    def _group_reg_loss(self, width: float,
                        teacher_branch: bool) -> torch.Tensor:
        info = self._runtime_info()
        # The sub-network predictor is unused by the teacher branch.
        skip_predictor = teacher_branch and self.distill
        return self.group_reg(
            self,
            epoch=info['epoch'],
            max_epochs=info['max_epochs'],
            width=width,
            skip_predictor=skip_predictor)

    # ------------------------------------------------------------------
    # the step
    # ------------------------------------------------------------------
    def force_zero_weight_decay(self, optim_wrapper: OptimWrapper) -> None:
        """Set the optimizer's weight decay to 0 (GroupReg replaces it).

        Args:
            optim_wrapper (OptimWrapper): The wrapper of the train step.
        """
        changed = set()
        for group in optim_wrapper.optimizer.param_groups:
            if group.get('weight_decay', 0):
                changed.add(group['weight_decay'])
                group['weight_decay'] = 0.
        if changed:
            print_log(
                f'US3L: GroupReg replaces weight decay, so the optimizer\'s '
                f'weight_decay {sorted(changed)} was set to 0 (as the US3L '
                f'reference does); set group_reg=None to keep weight decay.',
                logger='current',
                level=logging.WARNING)

    def multi_width_train_step(
        self,
        data: Union[dict, tuple, list],
        optim_wrapper: OptimWrapper,
        forward_module: Optional[nn.Module] = None
    ) -> Dict[str, torch.Tensor]:
        """The mixin's step, with GroupReg's weight-decay check first."""
        if self.group_reg is not None and not self._weight_decay_checked:
            self.force_zero_weight_decay(optim_wrapper)
            self._weight_decay_checked = True
        self._optim_wrapper = optim_wrapper
        try:
            return super().multi_width_train_step(data, optim_wrapper,
                                                  forward_module)
        finally:
            self._optim_wrapper = None
            self._clear_targets()

    def prepare_multi_width_step(self, inputs: Views, data_samples: list,
                                 widths: List[float]) -> None:
        """Update the EMA teacher once, then compute its targets once."""
        views = self._check_views(inputs)
        if self.target_net is not None:
            self.target_net.update([self.backbone, self.neck],
                                   progress=self._progress())
        self._prepare_targets(views, widths)

    def loss(self, inputs: Views, data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        """Losses of the current width (the student is already at it).

        Outside the multi-width train step (no current width), the call is a
        single teacher-branch step at the backbone's width, with targets
        computed on the spot and no EMA update.

        Args:
            inputs (list[Tensor]): The two views, each ``B x C x H x W``.
            data_samples (list): Unused.

        Returns:
            dict[str, Tensor]: The loss terms.
        """
        views = self._check_views(inputs)
        in_step = self.current_width_index is not None
        if in_step:
            width, index = self.current_width, self.current_width_index
        else:
            width, index = get_width(self.backbone), 0
            self._prepare_targets(views, [width])
        teacher_branch = index == 0
        record = (self.distill and not teacher_branch
                  and self.feature_distiller is not None)
        with contextlib.ExitStack() as stack:
            student_feats = stack.enter_context(
                record_features(self.backbone, self.feature_distiller.layers)
            ) if record else None
            projections = [self._project(view) for view in views]

        losses = dict()
        if not self.distill:
            targets = self._self_targets(views, projections, width)
            losses['loss_base'] = cross_view_average(
                self.base_loss, self._teacher_head(projections), targets)
        elif teacher_branch:
            targets = self._base_targets
            if targets is None:  # no EMA copy: stop-gradient self-target
                targets = [z.detach() for z in projections]
            losses['loss_base'] = cross_view_average(
                self.base_loss, self._teacher_head(projections), targets)
        else:
            preds = [_first(self.aux_predictor((z, ))) for z in projections]
            # L = lambda * (D(p_1, t_2) + D(p_2, t_1)) / 2
            losses['loss_distill'] = self.distill_lambda * cross_view_average(
                self.distill_loss, preds, self._distill_targets)
            if record:
                losses['loss_feature_distill'] = (
                    self.feature_distill_lambda *
                    self.feature_distiller(student_feats,
                                           self._teacher_feats))
        if self.group_reg is not None:
            losses['loss_group_reg'] = self._group_reg_loss(
                width, teacher_branch)
        if not in_step:
            self._clear_targets()
        return losses
