# Copyright (c) slim_plugins contributors. All rights reserved.
"""DDP wrapper that runs the model's multi-width train step."""
from typing import Dict, Union

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper

from slim_plugins.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class MultiWidthDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for models with a multi-width step.

    mmengine's wrapper implements ``train_step`` itself (one forward, one
    update) and never calls the wrapped model's ``train_step``, so a sandwich
    of widths would silently become a single width under DDP. This wrapper
    delegates to ``module.multi_width_train_step`` and passes itself as the
    forward module, so that every width's forward goes through DDP (gradient
    synchronisation) and the accumulate mode can skip the synchronisation of
    all but the last width with ``no_sync``.

    Select it with the scoped name (mmengine's ``Runner.wrap_model`` looks
    the type up without the default scope)::

        model_wrapper_cfg = dict(
            type='slim_plugins.MultiWidthDistributedDataParallel',
            find_unused_parameters=True)

    (unused parameters: switchable BN of other widths, predictors used by
    sub-networks only).
    """

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Run the wrapped model's multi-width step through DDP."""
        step = getattr(self.module, 'multi_width_train_step', None)
        if step is None:
            raise TypeError(
                f'{type(self.module).__name__} has no multi_width_train_step; '
                f'MultiWidthDistributedDataParallel wraps models using '
                f'MultiWidthTrainMixin. Use MMDistributedDataParallel for '
                f'other models.')
        return step(data, optim_wrapper, forward_module=self)
