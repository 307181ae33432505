# Copyright (c) slim_plugins contributors. All rights reserved.
"""Registry scoping in both directions."""
import pytest
import torch.nn as nn
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope

import slim_plugins  # noqa: F401
from slim_plugins import registry


@registry.MODELS.register_module(force=True)
class _ScopeProbe(nn.Module):
    """A module only our registry knows about."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels


def test_children_of_mmpretrain_with_our_scope():
    from mmpretrain import registry as mmpretrain_registry
    for name in ('MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'METRICS',
                 'LOOPS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
                 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
                 'MODEL_WRAPPERS'):
        ours = getattr(registry, name)
        assert ours.scope == 'slim_plugins'
        assert ours.parent is getattr(mmpretrain_registry, name)


def test_default_scope_finds_mmpretrain_components_by_bare_name():
    with DefaultScope.overwrite_default_scope('slim_plugins'):
        # Built through mmengine's root registry, as the Runner does.
        backbone = MMENGINE_MODELS.build(dict(type='ResNet', depth=18))
        probe = MMENGINE_MODELS.build(dict(type='_ScopeProbe', channels=5))
    from mmpretrain.models import ResNet
    assert isinstance(backbone, ResNet)
    assert probe.channels == 5
    assert registry.MODELS.get('ResNet') is ResNet
    assert registry.HOOKS.get('CheckpointHook') is not None
    assert registry.DATASETS.get('CIFAR10') is not None


def test_other_projects_reach_ours_with_scoped_names():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

    # Restored afterwards: later tests build bare names in our scope.
    with DefaultScope.overwrite_default_scope('mmdet'):
        probe = MMDET_MODELS.build(dict(type='slim_plugins._ScopeProbe'))
        assert isinstance(probe, _ScopeProbe)
        probe = MMPRETRAIN_MODELS.build(
            dict(type='slim_plugins._ScopeProbe'))
        assert isinstance(probe, _ScopeProbe)
        # A misspelt scoped name still fails loudly.
        with pytest.raises(KeyError):
            MMDET_MODELS.build(dict(type='slim_plugins._NoSuchModule'))


def test_import_registers_everything():
    # Lazy `locations` must not be needed: importing the package suffices.
    assert 'SlimResNet' in registry.MODELS.module_dict
