# Copyright (c) slim_plugins contributors. All rights reserved.
from .dual_branch_vicreg import DualBranchVICReg
from .emp_ssl import EMPSSL, SlimEMPSSL
from .feature_distill import FeatureDistiller, layer_channels, record_features
from .multi_width_step import STEP_MODES, MultiWidthTrainMixin
from .mv_mr import MVMR, SlimMVMR, build_representations
from .slimclr_mocov2 import SlimCLRMoCoV2, SlimCLRWidthsMixin
from .slimclr_mocov3 import SlimCLRMoCoV3
from .us3l import US3L
from .vicreg import VICReg

__all__ = [
    'MultiWidthTrainMixin', 'STEP_MODES', 'SlimCLRMoCoV2', 'SlimCLRMoCoV3',
    'SlimCLRWidthsMixin', 'US3L', 'FeatureDistiller', 'record_features',
    'layer_channels', 'EMPSSL', 'SlimEMPSSL', 'VICReg', 'DualBranchVICReg',
    'MVMR', 'SlimMVMR', 'build_representations'
]
