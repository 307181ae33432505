# Copyright (c) slim_plugins contributors. All rights reserved.
"""Registries of slim_plugins.

Every registry is a child of mmpretrain's registry of the same kind and has the
scope ``slim_plugins``. Consequences:

* a config with ``default_scope = 'slim_plugins'`` finds our components *and*
  every mmpretrain / mmengine component by its bare name (lookups fall back to
  the parent registries);
* configs of other projects (mmdet, mmpretrain) reach our components with a
  scoped name, e.g. ``type='slim_plugins.SlimResNet'``. mmengine only resolves
  a scope that is a direct child of its root registry, so each registry is also
  made reachable from the root under its scope (see :func:`_expose_to_root`).

See ``docs/advanced/registries.md`` for the full picture.
"""
from mmengine.registry import Registry
from mmpretrain.registry import BATCH_AUGMENTS as MMPRETRAIN_BATCH_AUGMENTS
from mmpretrain.registry import DATA_SAMPLERS as MMPRETRAIN_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRETRAIN_EVALUATOR
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRETRAIN_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRETRAIN_LOOPS
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRETRAIN_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRETRAIN_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRETRAIN_PARAM_SCHEDULERS
from mmpretrain.registry import \
    RUNNER_CONSTRUCTORS as MMPRETRAIN_RUNNER_CONSTRUCTORS
from mmpretrain.registry import RUNNERS as MMPRETRAIN_RUNNERS
from mmpretrain.registry import TASK_UTILS as MMPRETRAIN_TASK_UTILS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRETRAIN_VISUALIZERS
from mmpretrain.registry import \
    WEIGHT_INITIALIZERS as MMPRETRAIN_WEIGHT_INITIALIZERS
from mmpretrain.utils import \
    register_all_modules as register_all_mmpretrain_modules

SCOPE = 'slim_plugins'

# A child registry falls back to its parents' *already imported* modules only
# (mmengine does not trigger the parents' lazy `locations`), so mmpretrain's
# components must be registered before any bare-name lookup from our scope.
register_all_mmpretrain_modules(init_default_scope=False)


def _child(name: str, parent: Registry, location: str) -> Registry:
    registry = Registry(
        name, parent=parent, scope=SCOPE, locations=[f'{SCOPE}.{location}'])
    _expose_to_root(registry)
    return registry


def _expose_to_root(registry: Registry) -> None:
    """Make ``slim_plugins.Name`` resolvable from any sibling registry.

    ``Registry.get('scope.Name')`` looks for ``scope`` among its own children,
    then among the children of the root registry, and gives up otherwise. Our
    registries are grandchildren of the root (root -> mmpretrain -> ours), so a
    mmdet registry could not find them. Registering the same object as an
    extra child of the root fixes that without changing the parent chain that
    gives us mmpretrain's components by bare name.
    """
    root = registry._get_root_registry()
    root._children.setdefault(SCOPE, registry)


# manage all kinds of runners like `EpochBasedRunner` and `IterBasedRunner`
RUNNERS = _child('runner', MMPRETRAIN_RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _child('runner constructor',
                             MMPRETRAIN_RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _child('loop', MMPRETRAIN_LOOPS, 'engine')
HOOKS = _child('hook', MMPRETRAIN_HOOKS, 'engine')
LOG_PROCESSORS = _child('log processor', MMPRETRAIN_LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child('optimizer', MMPRETRAIN_OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child('optim_wrapper', MMPRETRAIN_OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS,
                                    'engine')
PARAM_SCHEDULERS = _child('parameter scheduler', MMPRETRAIN_PARAM_SCHEDULERS,
                          'engine')
DATASETS = _child('dataset', MMPRETRAIN_DATASETS, 'datasets')
DATA_SAMPLERS = _child('data sampler', MMPRETRAIN_DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child('transform', MMPRETRAIN_TRANSFORMS, 'datasets')
MODELS = _child('model', MMPRETRAIN_MODELS, 'models')
MODEL_WRAPPERS = _child('model_wrapper', MMPRETRAIN_MODEL_WRAPPERS, 'engine')
WEIGHT_INITIALIZERS = _child('weight initializer',
                             MMPRETRAIN_WEIGHT_INITIALIZERS, 'models')
BATCH_AUGMENTS = _child('batch augment', MMPRETRAIN_BATCH_AUGMENTS, 'models')
TASK_UTILS = _child('task util', MMPRETRAIN_TASK_UTILS, 'models')
METRICS = _child('metric', MMPRETRAIN_METRICS, 'evaluation')
EVALUATOR = _child('evaluator', MMPRETRAIN_EVALUATOR, 'evaluation')
VISUALIZERS = _child('visualizer', MMPRETRAIN_VISUALIZERS, 'utils')
VISBACKENDS = _child('vis_backend', MMPRETRAIN_VISBACKENDS, 'utils')

# Width samplers have no mmengine counterpart: a root registry of our own.
WIDTH_SAMPLERS = Registry(
    'width sampler', scope=SCOPE, locations=[f'{SCOPE}.engine.samplers'])
