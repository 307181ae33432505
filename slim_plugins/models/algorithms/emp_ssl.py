# Copyright (c) slim_plugins contributors. All rights reserved.
"""EMP-SSL: self-supervised learning in one epoch from many patches."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.structures import DataSample

from slim_plugins.registry import MODELS
from .multi_width_step import MultiWidthTrainMixin


@MODELS.register_module()
class EMPSSL(BaseSelfSupervisor):
    """Extreme-multi-patch self-supervised learning.

    From `EMP-SSL (Tong et al., 2023) <https://arxiv.org/abs/2304.03977>`_.
    Each image arrives as ``n`` small crops (``MultiView`` with ``n`` views
    of one patch pipeline); the views are stacked patch-major, so rows
    ``i*B .. (i+1)*B`` hold patch ``i`` of every image. The backbone and the
    pre-feature neck give ``h`` (the evaluation feature), the projector and
    an L2 normalisation give ``z``, and

    ``L = w_inv L_inv(z) + w_tcr L_TCR(z)``

    with :class:`~slim_plugins.models.losses.PatchInvarianceLoss` (cosine
    of each patch to its image's mean) and
    :class:`~slim_plugins.models.losses.TotalCodingRateLoss` (coding rate of
    each patch chunk). The weights (200 and 1 in the paper) are the losses'
    ``loss_weight``.

    Args:
        backbone (dict): Backbone config (ResNet-18: 512 features).
        neck (dict): Pre-feature config, ``Linear(512, 4096)-BN-ReLU``
            (mmpretrain's ``LinearNeck`` with ``gap_dim=2``, ``BN1d`` and
            ``ReLU``).
        projector (dict): Projection config, ``Linear(4096, 4096)-BN-ReLU-
            Linear(4096, 1024)`` (mmpretrain's ``NonLinearNeck``,
            ``num_layers=2``, ``with_last_bn=False``, ``with_bias=True``,
            ``with_avg_pool=False``).
        invariance_loss (dict): Defaults to
            ``PatchInvarianceLoss(loss_weight=200)``.
        tcr_loss (dict): Defaults to ``TotalCodingRateLoss(eps=0.2)``.
        min_patches (int): Fewest patches per image accepted (the
            invariance needs 2). Defaults to 2.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 projector: dict,
                 invariance_loss: Optional[dict] = None,
                 tcr_loss: Optional[dict] = None,
                 min_patches: int = 2,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.projector = MODELS.build(projector)
        linears = [[m for m in part.modules() if isinstance(m, nn.Linear)]
                   for part in (self.neck, self.projector)]
        if all(linears) and linears[0][-1].out_features != \
                linears[1][0].in_features:
            raise ValueError(
                f'EMPSSL: the pre-feature gives '
                f'{linears[0][-1].out_features} features but the projector '
                f'takes {linears[1][0].in_features}; set the projector\'s '
                'in_channels to the neck\'s out_channels.')
        self.invariance_loss = MODELS.build(
            invariance_loss
            or dict(type='PatchInvarianceLoss', loss_weight=200.))
        self.tcr_loss = MODELS.build(
            tcr_loss or dict(type='TotalCodingRateLoss', eps=0.2))
        if min_patches < 2:
            raise ValueError(f'EMPSSL: min_patches={min_patches}; the '
                             'invariance term needs >= 2 patches per image.')
        self.min_patches = min_patches
        self._last_z: Optional[torch.Tensor] = None

    def embed(self, patches: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``h`` (pre-feature) and unit-norm ``z`` of a stack of patches.

        Args:
            patches (Tensor): ``N x C x H x W``.

        Returns:
            dict: ``h`` (``N x 4096``) and ``z`` (``N x 1024``).
        """
        h = self.neck(self.backbone(patches))[0]
        z = F.normalize(self.projector((h, ))[0], dim=1)
        return dict(h=h, z=z)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """Invariance and coding-rate losses of one multi-patch batch.

        Args:
            inputs (list[Tensor]): ``n`` views, each ``B x C x H x W``.
            data_samples (list[DataSample], optional): Unused.

        Returns:
            dict: ``loss_inv`` and ``loss_tcr``.
        """
        if not isinstance(inputs, (list, tuple)) or len(
                inputs) < self.min_patches:
            count = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ValueError(
                f'EMPSSL: {count} patch(es) per image; the pipeline must '
                f'give at least {self.min_patches} (MultiView num_views).')
        num_patches = len(inputs)
        # Patch-major: chunk i of the stack is patch i of every image.
        z = self.embed(torch.cat(inputs, dim=0))['z']
        self._last_z = z
        return dict(
            loss_inv=self.invariance_loss(z, num_patches),
            loss_tcr=self.tcr_loss(z, num_patches))


@MODELS.register_module()
class SlimEMPSSL(MultiWidthTrainMixin, EMPSSL):
    """EMP-SSL on a slimmable backbone: one run trains every width.

    Not in the paper: the same objective, per width, with the package's
    multi-width step and width samplers (a ``WidthSamplingHook``). Each
    width of a step computes its own invariance and coding-rate losses on
    the same patches; with ``distill_weight > 0`` the narrower widths are
    also pulled towards the widest width's embeddings of the step
    (``1 - cos``, the widest detached, as in-place distillation). The
    pre-feature is a :class:`~slim_plugins.models.necks.SlimMLPNeck` with
    one Linear (its input follows the width) and a BN, followed by the ReLU
    of ``h``; the projector is the plain one.

    Args:
        distill_weight (float): Weight of the in-place distillation of the
            narrower widths. Defaults to 0 (off).
        step_mode (str): ``'accumulate'`` or ``'per_width'``. Defaults to
            ``'accumulate'``.
        loss_weighting (str | int): Per-width loss weights. Defaults to
            ``'uniform'``.
        default_widths (Sequence[float], optional): Widths without a
            sampler hook.
        **kwargs: Arguments of :class:`EMPSSL`.
    """

    def __init__(self,
                 distill_weight: float = 0.,
                 step_mode: str = 'accumulate',
                 loss_weighting='uniform',
                 default_widths: Optional[List[float]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.init_multi_width(step_mode, loss_weighting, default_widths)
        if distill_weight < 0:
            raise ValueError(f'SlimEMPSSL: distill_weight={distill_weight} '
                             'must be >= 0.')
        self.distill_weight = distill_weight
        self._widest_z: Optional[torch.Tensor] = None

    def embed(self, patches: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``h = ReLU(BN(Linear(backbone)))`` and unit-norm ``z``."""
        h = F.relu(self.neck(self.backbone(patches))[0])
        z = F.normalize(self.projector((h, ))[0], dim=1)
        return dict(h=h, z=z)

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """The EMP-SSL losses at the current width (and the distillation).

        Returns:
            dict: ``loss_inv``, ``loss_tcr`` and, for the narrower widths of
            a step with ``distill_weight > 0``, ``loss_distill``.
        """
        losses = super().loss(inputs, data_samples)
        z = self._last_z
        index = self.current_width_index
        if index == 0:
            self._widest_z = z.detach()
        elif index is not None and self.distill_weight > 0:
            # 1 - cos(z_w, z_widest), patch by patch
            cosine = (z * self._widest_z).sum(dim=1)
            losses['loss_distill'] = self.distill_weight * (1 - cosine).mean()
        return losses
