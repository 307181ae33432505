# Copyright (c) slim_plugins contributors. All rights reserved.
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper
from .lars_sgd import LARSSGD

__all__ = ['CPUAmpOptimWrapper', 'LARSSGD']
