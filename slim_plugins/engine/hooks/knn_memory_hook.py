# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hook handing the evaluated model to the kNN metrics."""
from typing import Any, Dict, List, Optional

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from slim_plugins.evaluation.metrics import GatedMACs, KNNAccuracy
from slim_plugins.registry import HOOKS

STEPS = ('val_step', 'test_step')
# Metrics that compute with the evaluated model itself.
MODEL_METRICS = (KNNAccuracy, GatedMACs)


def _data_samples_only(data: Any) -> List[Any]:
    """A ``val_step``/``test_step`` that predicts nothing."""
    samples = data.get('data_samples') if isinstance(data, dict) else \
        data[1]
    if samples is None:
        raise ValueError('kNN evaluation needs labelled batches (data '
                         'samples with gt_label); end the pipeline with '
                         'PackInputs on a labelled dataset.')
    return list(samples)


@HOOKS.register_module()
class KNNMemoryHook(Hook):
    """Give :class:`~slim_plugins.evaluation.metrics.KNNAccuracy` (and
    :class:`~slim_plugins.evaluation.metrics.GatedMACs`) the model.

    A metric never sees the model, but a kNN metric must compute features
    of its memory (training) data with the evaluated model, at the state it
    is evaluated in. Before each val/test loop this hook binds the runner's
    model to every ``KNNAccuracy`` of that loop's evaluator; the metric then
    builds its memory bank at each ``evaluate`` (once per width under the
    multi-width loops).

    Self-supervised models (``BaseSelfSupervisor``) have no ``predict``
    mode, so the loop's ``val_step``/``test_step`` would fail. As kNN
    metrics extract their own features from the batch, for such models the
    hook replaces these two steps, on the model instance and for the
    duration of the loop only, by one that returns the batch's data samples
    without predicting anything. Any other metric of that evaluator then
    sees no predictions.

    Args:
        skip_predict (bool, optional): Replace the steps as described.
            None (default) does it when the model has no ``predict``
            method.
    """

    priority = 'NORMAL'

    def __init__(self, skip_predict: Optional[bool] = None) -> None:
        if skip_predict not in (None, True, False):
            raise TypeError(f'KNNMemoryHook(skip_predict={skip_predict!r}): '
                            f'use None (auto), True or False.')
        self.skip_predict = skip_predict
        self._patched: Optional[nn.Module] = None
        self._saved: Dict[str, Any] = {}

    @staticmethod
    def _model(runner: Runner) -> nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _bind(self, runner: Runner, stage: str) -> None:
        loop = runner.val_loop if stage == 'val' else runner.test_loop
        metrics = [
            m for m in loop.evaluator.metrics if isinstance(m, MODEL_METRICS)
        ]
        if not metrics:
            runner.logger.warning(
                f'KNNMemoryHook: the {stage} evaluator has no KNNAccuracy '
                f'or GatedMACs metric; nothing to do.')
            return
        model = self._model(runner)
        for metric in metrics:
            metric.bind(model, seed=runner.seed)
        skip = self.skip_predict
        if skip is None:
            skip = not callable(getattr(model, 'predict', None))
        if skip:
            self._patch(model)

    def _patch(self, model: nn.Module) -> None:
        self._restore()
        self._saved = {name: model.__dict__.get(name) for name in STEPS}
        for name in STEPS:
            setattr(model, name, _data_samples_only)
        self._patched = model

    def _restore(self) -> None:
        model, self._patched = self._patched, None
        if model is None:
            return
        for name, saved in self._saved.items():
            if saved is None:
                model.__dict__.pop(name, None)
            else:
                setattr(model, name, saved)
        self._saved = {}

    def before_val(self, runner: Runner) -> None:
        self._bind(runner, 'val')

    def after_val(self, runner: Runner) -> None:
        self._restore()

    def before_test(self, runner: Runner) -> None:
        self._bind(runner, 'test')

    def after_test(self, runner: Runner) -> None:
        self._restore()

    def before_train(self, runner: Runner) -> None:
        # A val loop that failed half-way never reached after_val.
        self._restore()
