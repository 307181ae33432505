# Copyright (c) slim_plugins contributors. All rights reserved.
"""Mixed precision on machines without an accelerator."""
import contextlib
from typing import Iterator, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from slim_plugins.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward runs under CPU autocast.

    mmengine's ``AmpOptimWrapper`` refuses to start without CUDA/NPU/MLU/MUSA.
    On the CPU, autocast supports ``bfloat16``, which keeps float32's
    exponent range, so no loss scaling is needed: ``backward`` is the plain
    one, and the multi-width step (one ``backward`` per width) accumulates
    every width's gradient exactly once. ``tools/train.py --amp`` uses this
    wrapper when no GPU is present.

    Args:
        dtype (str or torch.dtype): Autocast type, ``'bfloat16'`` (the only
            lower-precision type CPU autocast supports). Defaults to
            ``'bfloat16'``.
        loss_scale (str | float | dict, optional): Accepted so that a
            config written for the GPU's ``AmpOptimWrapper`` runs here by
            changing only its type; unused (bfloat16 needs no scaling).
        **kwargs: Arguments of ``OptimWrapper``.
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 loss_scale: Union[str, float, dict, None] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype is not torch.bfloat16:
            raise ValueError(
                f'CPUAmpOptimWrapper: dtype={dtype} is not supported; CPU '
                'autocast runs in torch.bfloat16.')
        self.cast_dtype = dtype

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """``OptimWrapper.optim_context`` under ``torch.autocast('cpu')``."""
        with super().optim_context(model), torch.autocast(
                'cpu', dtype=self.cast_dtype):
            yield
