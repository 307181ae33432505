# Copyright (c) slim_plugins contributors. All rights reserved.
"""Validation / test loops that evaluate a slimmable model at each width."""
import contextlib
import json
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch.nn as nn
from mmengine.dist import is_main_process
from mmengine.evaluator import Evaluator
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop
from torch.utils.data import DataLoader

from slim_plugins.ops import using_width
from slim_plugins.registry import LOOPS
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               get_bank, needs_calibration,
                                               preserved_bn_buffers)
from slim_plugins.utils.width_naming import width_suffix


class MultiWidthLoopMixin:
    """Shared part of :class:`MultiWidthValLoop` and
    :class:`MultiWidthTestLoop`.

    For each width the whole model is set to that width (slim backbone and
    any switchable head), the calibrated BN statistics of that width are
    loaded into ``calibrated_module`` when it has any (and required when the
    module shares BN across widths: evaluating with a mixture of widths'
    statistics is never done silently), and the evaluator runs. Metrics are
    reported as ``<metric>@w<width>``, logged as a table and appended to
    ``<log_dir>/multi_width_<stage>.json``. BN buffers are restored after
    the loop, so evaluation never changes training state.
    """

    stage: str
    runner: object
    dataloader: DataLoader
    evaluator: Evaluator

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 widths: Sequence[float],
                 calibrated_module: str = 'backbone',
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        widths = [float(w) for w in widths]
        if not widths:
            raise ValueError(f'{type(self).__name__} needs at least one '
                             f'width in `widths`.')
        if len(set(widths)) != len(widths):
            raise ValueError(f'{type(self).__name__}: duplicated widths '
                             f'{widths}.')
        self.widths = sorted(widths, reverse=True)
        self.calibrated_module = calibrated_module

    def run(self) -> dict:
        """Evaluate every width; return ``metric@w<width>`` keys."""
        self.runner.call_hook(f'before_{self.stage}')
        self.runner.call_hook(f'before_{self.stage}_epoch')
        metrics = self._run_all_widths()
        self.runner.call_hook(f'after_{self.stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{self.stage}')
        return metrics

    @property
    def _model(self) -> nn.Module:
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @contextlib.contextmanager
    def _at_width(self, width: float) -> Iterator[None]:
        model = self._model
        target = getattr(model, self.calibrated_module, model)
        bank = get_bank(target)
        with using_width(model, width), preserved_bn_buffers(target):
            if needs_calibration(target) or (bank is not None
                                             and bank.has(width)):
                apply_calibrated_stats(target, width)
            yield

    def _evaluate_width(self) -> Dict[str, float]:
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        return self.evaluator.evaluate(len(self.dataloader.dataset))

    def _run_all_widths(self) -> Dict[str, float]:
        self.runner.model.eval()
        per_width: Dict[float, Dict[str, float]] = {}
        for width in self.widths:
            with self._at_width(width):
                per_width[width] = self._evaluate_width()
        self._report(per_width)
        return {
            f'{name}@{width_suffix(width)}': value
            for width, metrics in per_width.items()
            for name, value in metrics.items()
        }

    def _report(self, per_width: Dict[float, Dict[str, float]]) -> None:
        names: List[str] = sorted({n for m in per_width.values() for n in m})
        header = ['width'] + names
        rows = [[f'{w:g}'] + [_fmt(per_width[w].get(n)) for n in names]
                for w in self.widths]
        widths = [max(len(r[i]) for r in [header] + rows)
                  for i in range(len(header))]
        lines = [
            ' | '.join(c.ljust(widths[i]) for i, c in enumerate(row))
            for row in [header] + rows
        ]
        lines.insert(1, '-+-'.join('-' * w for w in widths))
        self.runner.logger.info(f'{self.stage} results per width:\n' +
                                '\n'.join(lines))
        if not is_main_process():
            return
        path = osp.join(self.runner.log_dir, f'multi_width_{self.stage}.json')
        record = dict(
            stage=self.stage,
            epoch=self.runner.epoch,
            iter=self.runner.iter,
            results=[
                dict(width=w, **{k: _to_float(v)
                                 for k, v in per_width[w].items()})
                for w in self.widths
            ])
        with open(path, 'a') as f:
            f.write(json.dumps(record) + '\n')


def _to_float(value: object) -> Union[float, object]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _fmt(value: Optional[object]) -> str:
    if value is None:
        return '-'
    value = _to_float(value)
    return f'{value:.2f}' if isinstance(value, float) else str(value)


@LOOPS.register_module()
class MultiWidthValLoop(MultiWidthLoopMixin, ValLoop):
    """Validation loop evaluating the model at each of ``widths``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Validation dataloader.
        evaluator (Evaluator | dict | list): Validation evaluator.
        widths (Sequence[float]): Widths to evaluate.
        calibrated_module (str): Attribute of the model whose calibrated BN
            statistics are loaded per width. Defaults to ``'backbone'``.
        fp16 (bool): Evaluate with automatic mixed precision.
    """

    stage = 'val'


@LOOPS.register_module()
class MultiWidthTestLoop(MultiWidthLoopMixin, TestLoop):
    """Test loop evaluating the model at each of ``widths``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Test dataloader.
        evaluator (Evaluator | dict | list): Test evaluator.
        widths (Sequence[float]): Widths to evaluate.
        calibrated_module (str): Attribute of the model whose calibrated BN
            statistics are loaded per width. Defaults to ``'backbone'``.
        fp16 (bool): Evaluate with automatic mixed precision.
    """

    stage = 'test'
