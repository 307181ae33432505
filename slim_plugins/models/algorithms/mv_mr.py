# Copyright (c) slim_plugins contributors. All rights reserved.
"""MV-MR: multi-view and multi-representation self-supervised learning."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from slim_plugins.models.losses import distance_correlation, variance_hinge
from slim_plugins.registry import MODELS
from .multi_width_step import MultiWidthTrainMixin
from .vicreg import check_two_views


def build_representations(configs: Sequence[dict],
                          owner: str) -> nn.ModuleDict:
    """Build the hand-crafted representations, keyed by a short name.

    The key is ``name`` from the config when given, else the type with
    ``Representation`` dropped, in lower case (``HOGRepresentation`` ->
    ``hog``). An unknown type is refused with the registered ones.
    """
    known = sorted(name for name in MODELS.module_dict
                   if name.endswith('Representation'))
    built = nn.ModuleDict()
    for cfg in configs:
        cfg = dict(cfg)
        kind = str(cfg.get('type')).split('.')[-1]
        if kind not in known:
            raise ValueError(f'{owner}: unknown representation {kind!r}; '
                             f'registered: {known}.')
        name = cfg.pop('name', kind[:-len('Representation')].lower())
        if name in built:
            raise ValueError(f'{owner}: two representations are named '
                             f'{name!r}; give one a `name`.')
        built[name] = MODELS.build(cfg)
    return built


@MODELS.register_module()
class MVMR(BaseSelfSupervisor):
    """MV-MR: views and hand-crafted representations tied by dCor.

    From `MV-MR (Kinakh et al., Entropy 2024) <https://arxiv.org/abs/
    2303.12130>`_. Each image comes as two views (``MultiView`` with two
    pipelines): ``x_o``, the image through the evaluation transform, and
    ``x_a``, one augmentation. One encoder and projector give
    ``z_o``, ``z_a`` (no EMA, no stop-gradient, no negatives), and

    ``L = MSE(z_o, z_a) + V(z_a) + V(z_o) + (1 - dCor(z_o, z_a))
    + sum_r T_r``

    with the variance hinge ``V`` (margin 1, as VICReg's), the distance
    correlation of :func:`~slim_plugins.models.losses.distance_correlation`
    and, for every hand-crafted representation ``phi_r`` (computed without
    gradient on ``x_o``), ``T_r = 1 - dCor(phi_r(x_o), z_a)``.

    The sign of ``T_r``: the paper maximises the dependence between
    ``z_a`` and the representations (``1 - dCor``, the default); the
    original code adds ``+dCor``, i.e. minimises it (spec 3.3).
    ``maximize_repr_dependence=False`` reproduces the code.

    Logged besides the losses: ``dcor_view`` and ``dcor_<name>`` per
    representation.

    Args:
        backbone (dict): Encoder config (ResNet-50 with
            ``zero_init_residual``; ``SmallKernelResNet`` for the
            small-kernel stem).
        neck (dict): Projector config, 2048-8192-8192-8192 with
            ``[Linear (no bias), BN, ReLU] x 2, Linear (no bias)``
            (mmpretrain's ``NonLinearNeck``, ``num_layers=3``,
            ``with_bias=False``, ``with_last_bn=False``).
        representations (Sequence[dict]): Hand-crafted representation
            configs (``*Representation`` types, an optional ``name`` key).
        maximize_repr_dependence (bool): ``1 - dCor`` (paper, default) or
            ``+dCor`` (original code) for the representation terms.
        mse_weight (float): Defaults to 1.
        variance_weight (float): Defaults to 1.
        view_dcor_weight (float): Defaults to 1.
        repr_weight (float): Weight of every representation term.
            Defaults to 1.
        dcor_scale (float): Factor on ``z`` inside the dCor terms (the
            original's ``/32``, an fp16 range trick). Defaults to 1/32.
        image_size (int, optional): When given, every representation is
            run once at build on a ``2 x in_channels x S x S`` batch, so a
            representation that cannot take the images fails before
            training.
        in_channels (int): Channels of that probe. Defaults to 3.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 representations: Sequence[dict] = (),
                 maximize_repr_dependence: bool = True,
                 mse_weight: float = 1.,
                 variance_weight: float = 1.,
                 view_dcor_weight: float = 1.,
                 repr_weight: float = 1.,
                 dcor_scale: float = 1 / 32,
                 image_size: Optional[int] = None,
                 in_channels: int = 3,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        owner = type(self).__name__
        self.representations = build_representations(representations, owner)
        for name, weight in (('mse_weight', mse_weight),
                             ('variance_weight', variance_weight),
                             ('view_dcor_weight', view_dcor_weight),
                             ('repr_weight', repr_weight)):
            if weight < 0:
                raise ValueError(f'{owner}: {name}={weight} must be >= 0.')
        if dcor_scale <= 0:
            raise ValueError(f'{owner}: dcor_scale={dcor_scale} must be > 0.')
        self.maximize_repr_dependence = maximize_repr_dependence
        self.mse_weight = mse_weight
        self.variance_weight = variance_weight
        self.view_dcor_weight = view_dcor_weight
        self.repr_weight = repr_weight
        self.dcor_scale = dcor_scale
        if image_size is not None:
            self._probe_representations(in_channels, image_size)

    def _probe_representations(self, channels: int, size: int) -> None:
        probe = torch.randn(2, channels, size, size)
        for name, module in self.representations.items():
            try:
                module(probe)
            except Exception as err:
                raise ValueError(
                    f'{type(self).__name__}: representation {name!r} '
                    f'cannot take {channels} x {size} x {size} images: '
                    f'{err}') from err

    def project(self, view: torch.Tensor) -> torch.Tensor:
        """``z = P(f(x))`` of a batch of images."""
        return self.neck(self.backbone(view))[0]

    @torch.no_grad()
    def representation_features(
            self, original: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``phi_r(x_o)`` of every representation, without gradient, in
        float32 even under AMP (histograms and filters of fixed weights)."""
        with torch.autocast(device_type=original.device.type, enabled=False):
            return OrderedDict(
                (name, module(original.float()))
                for name, module in self.representations.items())

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """The MV-MR losses of one batch of (original, augmented) views.

        Args:
            inputs (list[Tensor]): ``[x_o, x_a]``, each ``B x C x H x W``.
            data_samples (list[DataSample], optional): Unused.

        Returns:
            dict: ``loss_mse``, ``loss_var``, ``loss_dcor_view``,
            ``loss_dcor_<name>`` per representation and the logged
            ``dcor_view`` / ``dcor_<name>``.
        """
        original, augmented = check_two_views(inputs, type(self).__name__)
        if original.shape[0] < 2:
            raise ValueError(
                f'{type(self).__name__}: a batch of {original.shape[0]} '
                'image; dCor and the variance need >= 2 (set the '
                "dataloader's drop_last=True and batch_size >= 2).")
        z_o = self.project(original)
        z_a = self.project(augmented)
        losses = OrderedDict()
        losses['loss_mse'] = self.mse_weight * F.mse_loss(z_o, z_a)
        losses['loss_var'] = self.variance_weight * (
            variance_hinge(z_a) + variance_hinge(z_o))
        scaled_a = z_a * self.dcor_scale
        dcor_view = distance_correlation(z_o * self.dcor_scale, scaled_a)
        losses['loss_dcor_view'] = self.view_dcor_weight * (1 - dcor_view)
        losses['dcor_view'] = dcor_view.detach()
        for name, features in self.representation_features(original).items():
            dcor = distance_correlation(features, scaled_a)
            term = 1 - dcor if self.maximize_repr_dependence else dcor
            losses[f'loss_dcor_{name}'] = self.repr_weight * term
            losses[f'dcor_{name}'] = dcor.detach()
        return losses


@MODELS.register_module()
class SlimMVMR(MultiWidthTrainMixin, MVMR):
    """MV-MR on a slimmable backbone: one run trains every width.

    Not in the paper. dCor compares distance matrices, so it does not care
    about the width of ``z``'s producer: every width is tied to the same
    hand-crafted representations of ``x_o``, a signal that needs no
    teacher. Each width of a step computes the full MV-MR loss on the same
    views with the package's multi-width step and width samplers (a
    ``WidthSamplingHook``); the representations are computed once per step
    and shared by the widths.

    Args:
        step_mode (str): ``'accumulate'`` or ``'per_width'``. Defaults to
            ``'accumulate'``.
        loss_weighting (str | int): Per-width loss weights. Defaults to
            ``'uniform'``.
        default_widths (Sequence[float], optional): Widths without a
            sampler hook.
        **kwargs: Arguments of :class:`MVMR`.
    """

    def __init__(self,
                 step_mode: str = 'accumulate',
                 loss_weighting='uniform',
                 default_widths: Optional[List[float]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.init_multi_width(step_mode, loss_weighting, default_widths)
        self._cached_features: Optional[Dict[str, torch.Tensor]] = None

    def representation_features(
            self, original: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The features of this step, computed by its first width."""
        if self._cached_features is not None:
            return self._cached_features
        return super().representation_features(original)

    def prepare_multi_width_step(self, inputs: List[torch.Tensor],
                                 data_samples: list,
                                 widths: List[float]) -> None:
        """Compute the representations of ``x_o`` once for all widths."""
        self._cached_features = None
        original, _ = check_two_views(inputs, type(self).__name__)
        self._cached_features = self.representation_features(original)

    def multi_width_train_step(
            self,
            data: Union[dict, tuple, list],
            optim_wrapper: OptimWrapper,
            forward_module: Optional[nn.Module] = None
    ) -> Dict[str, torch.Tensor]:
        """The multi-width step; the cached representations are dropped
        when it ends, also when it fails."""
        try:
            return super().multi_width_train_step(data, optim_wrapper,
                                                  forward_module)
        finally:
            self._cached_features = None
