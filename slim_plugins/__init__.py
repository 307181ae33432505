# Copyright (c) slim_plugins contributors. All rights reserved.
"""slim_plugins: slimmable and dynamic self-supervised learning for OpenMMLab.

Importing the package registers every component in the ``slim_plugins``
registries (see :mod:`slim_plugins.registry`).
"""
from .version import __version__

from .utils.checkpoint import register_checkpoint_safe_globals  # isort:skip

register_checkpoint_safe_globals()

from . import datasets, engine, evaluation, models, ops  # noqa: E402,F401,I001
from .registry import SCOPE  # noqa: E402

__all__ = ['__version__', 'SCOPE']
