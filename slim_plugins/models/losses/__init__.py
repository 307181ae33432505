# Copyright (c) slim_plugins contributors. All rights reserved.
from .block_density_bound import BlockDensityBoundLoss
from .distance_correlation import DistanceCorrelationLoss, distance_correlation
from .distillation import DistillationLoss
from .flops_budget import FLOPsBudgetLoss
from .gaussian_potential_uniformity import GaussianPotentialUniformity
from .group_reg import GroupRegLoss, channel_groups, group_reg_coefficients
from .info_nce import InfoNCELoss, MoCoV3ContrastiveLoss, moco_logits
from .infonce_v2_distill import InfoNCEv2DistillLoss
from .negative_cosine import NegativeCosineLoss
from .patch_invariance import PatchInvarianceLoss
from .total_coding_rate import TotalCodingRateLoss, coding_rate
from .utils import cross_view_average
from .vicreg import VICRegLoss, variance_hinge

__all__ = [
    'InfoNCEv2DistillLoss', 'NegativeCosineLoss', 'DistillationLoss',
    'InfoNCELoss', 'MoCoV3ContrastiveLoss', 'moco_logits', 'GroupRegLoss',
    'group_reg_coefficients', 'channel_groups', 'cross_view_average',
    'PatchInvarianceLoss', 'TotalCodingRateLoss', 'coding_rate',
    'GaussianPotentialUniformity', 'VICRegLoss', 'FLOPsBudgetLoss',
    'BlockDensityBoundLoss', 'DistanceCorrelationLoss', 'distance_correlation',
    'variance_hinge'
]
