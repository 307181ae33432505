# Copyright (c) slim_plugins contributors. All rights reserved.
"""Loading mmengine checkpoints under torch>=2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7
calls ``torch.load`` without ``weights_only`` and its checkpoints carry, next
to the tensors, the message hub's ``HistoryBuffer`` objects and numpy scalars
and arrays; the restricted unpickler refuses them, so ``--resume``,
``load_from`` and ``init_cfg=dict(type='Pretrained')`` all fail.

Rather than switching the restricted unpickler off for every load (what
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` does), we allow-list exactly the classes
that mmengine's own checkpoints contain. Everything else still goes through the
restricted unpickler, so a checkpoint smuggling arbitrary objects is still
refused.
"""
from typing import List

import numpy as np
import torch


def checkpoint_safe_globals() -> List[object]:
    """Return the non-tensor classes found in mmengine runner checkpoints."""
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer

    # numpy 2 moved the implementation to ``numpy._core``.
    multiarray = getattr(np, '_core', None) or np.core
    numpy_globals = [
        np.dtype, np.ndarray, multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar
    ]
    # numpy>=1.25 pickles dtypes as instances of their own dtype classes.
    numpy_globals += [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    # HistoryBuffer pickles its statistics methods as
    # ``getattr(HistoryBuffer, 'min')``. The restricted unpickler only calls
    # allow-listed callables, so allowing ``getattr`` lets it look an
    # attribute up but never call what it found unless that is allow-listed.
    return [HistoryBuffer, ConfigDict, getattr] + numpy_globals


def register_checkpoint_safe_globals() -> None:
    """Allow-list mmengine's checkpoint classes for ``weights_only`` loads.

    Idempotent; a no-op on torch versions without ``add_safe_globals``.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return
    add_safe_globals(checkpoint_safe_globals())
