# Copyright (c) slim_plugins contributors. All rights reserved.
"""slim_plugins: slimmable and dynamic self-supervised learning for OpenMMLab.

Importing the package registers every component in the ``slim_plugins``
registries (see :mod:`slim_plugins.registry`).
"""
from . import datasets, engine, evaluation, models, ops  # noqa: F401
from .registry import SCOPE
from .version import __version__

__all__ = ['__version__', 'SCOPE']
