# Copyright (c) slim_plugins contributors. All rights reserved.
"""Cost of one multi-width train step vs the single-width steps it replaces.

Times, interleaved so that machine noise hits all alike (median of
``--repeats`` after a warm-up), one full train step (data preprocessing,
forward + backward per width, optimizer update) of a SlimResNet classifier
with the widths ``[1.0, 0.75, 0.5, 0.25]`` in both step modes of
:class:`~slim_plugins.models.algorithms.MultiWidthTrainMixin`, and divides it
by the sum of the single-width steps

* of the same slim network (``set_train_widths([w])``): the overhead of the
  multi-width step itself (target <= 1.05);
* of the plain networks exported at each width (``NarrowResNet`` + a plain
  linear head): the total price of training a slimmable network instead of
  the separate narrow networks.

Example::

    python benchmarks/multiwidth_step.py --depth 18 --batch-size 32
"""
import argparse
import copy
import statistics
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper

from slim_plugins.models.algorithms import MultiWidthTrainMixin
from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.utils import export_subnet
from slim_plugins.ops import SlimLinear, using_width

WIDTHS = [1.0, 0.75, 0.5, 0.25]
NUM_CLASSES = 10


class SlimClassifier(MultiWidthTrainMixin, BaseModel):
    """SlimResNet (CIFAR stem) + global pooling + slim linear head."""

    def __init__(self, depth: int, step_mode: str) -> None:
        super().__init__()
        self.backbone = SlimResNet(
            depth, stem='cifar', width_range=(min(WIDTHS), max(WIDTHS)))
        channels = self.backbone.active_channels(1.0)[-1]
        self.head = SlimLinear(channels, NUM_CLASSES, slim_in=True)
        self.init_multi_width(step_mode, default_widths=WIDTHS)

    def forward(self, inputs, data_samples=None, mode='loss'):
        feats = self.backbone(inputs)[-1].mean(dim=(2, 3))
        return dict(loss=F.cross_entropy(self.head(feats), data_samples))


class PlainClassifier(BaseModel):
    """The exported network of one width with a plain linear head."""

    def __init__(self, slim: SlimClassifier, width: float) -> None:
        super().__init__()
        self.backbone = export_subnet(
            slim.backbone, width, running_stats=True)
        with using_width(slim.head, width):
            _, in_features = slim.head.active_features()
        self.head = nn.Linear(in_features, NUM_CLASSES)

    def forward(self, inputs, data_samples=None, mode='loss'):
        feats = self.backbone(inputs)[-1].mean(dim=(2, 3))
        return dict(loss=F.cross_entropy(self.head(feats), data_samples))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depth', type=int, default=18)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument(
        '--repeats',
        type=int,
        default=7,
        help='timed steps per variant (median reported)')
    return parser.parse_args()


def step_timer(model: BaseModel, data: dict) -> Callable[[], float]:
    """A closure timing one ``model.train_step`` with its own SGD."""
    model.train()
    wrapper = OptimWrapper(
        torch.optim.SGD(
            model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4))
    sync = (
        torch.cuda.synchronize if torch.cuda.is_available() else lambda: None)

    def run() -> float:
        sync()
        start = time.perf_counter()
        model.train_step(data, wrapper)
        sync()
        return time.perf_counter() - start

    return run


def main() -> None:
    args = parse_args()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(0)
    data = dict(
        inputs=torch.randn(args.batch_size, 3, 32, 32, device=device),
        data_samples=torch.randint(
            0, NUM_CLASSES, (args.batch_size, ), device=device))
    base = SlimClassifier(args.depth, 'accumulate').to(device)
    timers: Dict[str, Callable[[], float]] = {}
    for mode in ('accumulate', 'per_width'):
        model = copy.deepcopy(base)
        model.step_mode = mode
        timers[f'multi/{mode}'] = step_timer(model, data)
    for width in WIDTHS:
        single = copy.deepcopy(base)
        single.set_train_widths([width])
        timers[f'slim@{width:g}'] = step_timer(single, data)
        plain = PlainClassifier(base, width).to(device)
        timers[f'narrow@{width:g}'] = step_timer(plain, data)

    times: Dict[str, List[float]] = {name: [] for name in timers}
    for rep in range(1 + args.repeats):  # the first round is a warm-up
        names = list(timers) if rep % 2 else list(reversed(timers))
        for name in names:
            elapsed = timers[name]()
            if rep:
                times[name].append(elapsed)
    med = {name: statistics.median(values) for name, values in times.items()}

    slim_sum = sum(med[f'slim@{w:g}'] for w in WIDTHS)
    narrow_sum = sum(med[f'narrow@{w:g}'] for w in WIDTHS)
    threads = torch.get_num_threads() if device == 'cpu' else '-'
    print(f'SlimResNet-{args.depth} CIFAR stem, batch {args.batch_size}, '
          f'32x32, widths {WIDTHS}, {device} ({threads} threads), '
          f'median of {args.repeats} train steps, torch {torch.__version__}')
    print(f'{"width":>6} {"slim step ms":>13} {"narrow step ms":>15}')
    for width in WIDTHS:
        print(f'{width:>6.2f} {med[f"slim@{width:g}"] * 1e3:>13.1f} '
              f'{med[f"narrow@{width:g}"] * 1e3:>15.1f}')
    print(f'{"sum":>6} {slim_sum * 1e3:>13.1f} {narrow_sum * 1e3:>15.1f}')
    print(f'{"mode":>10} {"step ms":>8} {"/ sum slim":>11} '
          f'{"/ sum narrow":>13}')
    for mode in ('accumulate', 'per_width'):
        multi = med[f'multi/{mode}']
        print(f'{mode:>10} {multi * 1e3:>8.1f} {multi / slim_sum:>11.3f} '
              f'{multi / narrow_sum:>13.3f}')


if __name__ == '__main__':
    main()
