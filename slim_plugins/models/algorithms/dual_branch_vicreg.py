# Copyright (c) slim_plugins contributors. All rights reserved.
"""Unification: a dense and a gated path trained jointly with VICReg."""
from typing import Dict, List, Optional

import torch
from mmpretrain.structures import DataSample

from slim_plugins.ops import using_gate_path
from slim_plugins.registry import MODELS
from .vicreg import VICReg, check_two_views


@MODELS.register_module()
class DualBranchVICReg(VICReg):
    """VICReg between the gated and the dense path of one network.

    `Unifying synergies between self-supervised learning and dynamic
    computation (Krishna et al., BMVC 2023) <https://arxiv.org/abs/
    2301.09164>`_ ("VICReg-Dual"). One
    :class:`~slim_plugins.models.backbones.GatedResNet` and one shared
    projector; per step the gated path encodes view 0 and the dense path
    view 1, and

    ``L = VICReg(z_gated, z_dense) + L_budget(r) + L_bound(rho, p)``

    (:class:`~slim_plugins.models.losses.FLOPsBudgetLoss` on the MACs ratio
    ``r`` of the gated pass, :class:`~slim_plugins.models.losses.
    BlockDensityBoundLoss` on its block densities). Both paths get
    gradients from the single cross-path term: no EMA, no stop-gradient.
    :class:`~slim_plugins.engine.hooks.GateAnnealHook` sets ``p`` each epoch
    and, during its warm-up, turns the gated pass off (both views dense,
    VICReg only).

    ``symmetric=False`` is the paper (the gated path always sees view 0).
    ``symmetric=True`` (a deviation) adds the swapped pair and averages the
    two VICReg terms and the two passes' budget losses.

    Logged besides the losses: ``macs_ratio`` (``r``, training masks) and
    ``gate_density`` (mean block density) of the gated pass.

    Args:
        backbone (dict): A ``GatedResNet`` config.
        neck (dict): The shared projector.
        budget_loss (dict): ``FLOPsBudgetLoss`` config with the target.
        bound_loss (dict): ``BlockDensityBoundLoss`` config with the same
            target.
        loss (dict): Defaults to ``VICRegLoss()``.
        symmetric (bool): Defaults to False.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 budget_loss: dict,
                 bound_loss: dict,
                 loss: Optional[dict] = None,
                 symmetric: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            loss=loss,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not hasattr(self.backbone, 'gate_stats'):
            raise TypeError(f'DualBranchVICReg needs a gated backbone (e.g. '
                            f'GatedResNet), got '
                            f'{type(self.backbone).__name__}.')
        self.budget_loss = MODELS.build(budget_loss)
        self.bound_loss = MODELS.build(bound_loss)
        if self.budget_loss.target != self.bound_loss.target:
            raise ValueError(
                f'DualBranchVICReg: budget_loss.target='
                f'{self.budget_loss.target} and bound_loss.target='
                f'{self.bound_loss.target} differ; the two losses share the '
                f'one MACs target t.')
        self.symmetric = symmetric
        self.gate_bound_p = 1.0
        self.gates_on = True

    def set_gate_schedule(self, p: float, gates_on: bool) -> None:
        """The bound loss's ``p`` and whether the gated pass runs."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f'DualBranchVICReg: p={p} must lie in [0, 1].')
        self.gate_bound_p = float(p)
        self.gates_on = bool(gates_on)

    def _pair(self, gated_view: torch.Tensor,
              dense_view: torch.Tensor) -> Dict[str, torch.Tensor]:
        if not self.gates_on:
            return dict(
                loss_vicreg=self.vicreg_loss(
                    self.project(gated_view), self.project(dense_view)))
        with using_gate_path(self.backbone, 'gated'):
            feats = self.backbone(gated_view)
        stats = self.backbone.gate_stats()
        z_gated = self.neck(feats)[0]
        with using_gate_path(self.backbone, 'dense'):
            z_dense = self.project(dense_view)
        densities = stats.densities
        return dict(
            loss_vicreg=self.vicreg_loss(z_gated, z_dense),
            loss_budget=self.budget_loss(stats.ratio),
            loss_bound=self.bound_loss(densities, self.gate_bound_p),
            macs_ratio=stats.ratio.detach(),
            gate_density=densities.mean().detach())

    def loss(self, inputs: List[torch.Tensor],
             data_samples: Optional[List[DataSample]] = None,
             **kwargs) -> Dict[str, torch.Tensor]:
        """The losses of one step (gated on view 0, dense on view 1).

        Args:
            inputs (list[Tensor]): The two views, ``B x C x H x W`` each.
            data_samples (list[DataSample], optional): Unused.

        Returns:
            dict[str, Tensor]: ``loss_vicreg``, ``loss_budget``,
            ``loss_bound`` and the logged ``macs_ratio`` and
            ``gate_density`` (only ``loss_vicreg`` while the gates are off).
        """
        views = check_two_views(inputs, type(self).__name__)
        terms = self._pair(views[0], views[1])
        if self.symmetric:
            swapped = self._pair(views[1], views[0])
            terms = {k: (v + swapped[k]) / 2 for k, v in terms.items()}
        return terms
