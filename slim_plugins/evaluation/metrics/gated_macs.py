# Copyright (c) slim_plugins contributors. All rights reserved.
"""The MACs a gated network really spends on the evaluated images."""
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.model import is_model_wrapper

from slim_plugins.ops import using_gate_path
from slim_plugins.registry import METRICS


def find_gated_backbone(model: nn.Module) -> nn.Module:
    """The module of ``model`` with ``gate_stats`` (its backbone, or
    itself)."""
    for candidate in (getattr(model, 'backbone', None), model):
        if candidate is not None and hasattr(candidate, 'gate_stats'):
            return candidate
    raise TypeError(f'{type(model).__name__} has no gated backbone (one '
                    f'with gate_stats, e.g. GatedResNet).')


@METRICS.register_module()
class GatedMACs(BaseMetric):
    """Achieved MACs of the gated path, averaged over the evaluated images.

    For every batch of the evaluation loop, the bound model's gated
    backbone encodes the batch (test-mode preprocessing, first view of a
    multi-view batch) on the ``'gated'`` path in the model's current mode
    (eval in a val/test loop: deterministic gates), and the per-image MACs
    of :meth:`~slim_plugins.models.backbones.GatedResNet.gate_stats`
    (stem, active channels of every block, gates) are averaged over all
    images. Reported: ``gated_macs`` (absolute), ``gated_macs_percent`` (of
    the dense path) and ``dense_macs``; never the training target. The
    model is bound by :class:`~slim_plugins.engine.hooks.KNNMemoryHook`.

    Args:
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str): Defaults to ``'macs'``.
    """

    default_prefix = 'macs'

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._model: Optional[nn.Module] = None

    def bind(self, model: nn.Module, seed: Optional[int] = None) -> None:
        """Use ``model`` (called by ``KNNMemoryHook``; ``seed`` unused)."""
        self._model = model.module if is_model_wrapper(model) else model

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        if self._model is None:
            raise ValueError("GatedMACs has no model: add dict(type="
                             "'KNNMemoryHook') to custom_hooks.")
        backbone = find_gated_backbone(self._model)
        data = self._model.data_preprocessor(data_batch, False)
        inputs = data['inputs'] if isinstance(data, dict) else data[0]
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        with torch.no_grad(), using_gate_path(backbone, 'gated'):
            backbone(inputs)
            stats = backbone.gate_stats()
        dense = stats.dense_macs
        self.results.extend(
            (float(m), dense) for m in stats.macs.detach().cpu())

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        dense = results[0][1]
        mean = sum(m for m, _ in results) / len(results)
        return dict(
            gated_macs=mean,
            gated_macs_percent=100.0 * mean / dense,
            dense_macs=dense)
