# Copyright (c) slim_plugins contributors. All rights reserved.
"""Run-time cost of slicing: SlimResNet at width w vs its exported copy.

For each width, times one forward + backward of the slim network at that
width and of the :class:`NarrowResNet` exported at the same width (same
weights, plain layers, nothing sliced at run time), interleaving the two so
that machine noise hits both alike, and prints the ratio of the medians.
A ratio of 1.00 means slicing is free.

Example::

    python benchmarks/slicing_overhead.py --depth 18 --stem cifar \\
        --batch 32 --size 32 --reps 9 --threads 2
"""
import argparse
import statistics
import time
from typing import Callable, List

import torch
import torch.nn as nn

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.ops import using_width
from slim_plugins.utils import export_subnet


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--depth', type=int, default=18)
    parser.add_argument('--stem', default='cifar',
                        choices=['cifar', 'imagenet'])
    parser.add_argument('--width-mode', default='universal',
                        choices=['universal', 'switchable'])
    parser.add_argument('--widths', type=float, nargs='+',
                        default=[1.0, 0.75, 0.5, 0.25])
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--size', type=int, default=32, help='input H = W')
    parser.add_argument('--reps', type=int, default=9,
                        help='timed repetitions per network and width')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--channels-last', action='store_true',
                        help='run both networks in channels-last format')
    return parser.parse_args()


def fwd_bwd(model: nn.Module, x: torch.Tensor) -> Callable[[], float]:
    """A closure timing one forward + backward of ``model`` on ``x``."""

    def step() -> float:
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        out = model(x)
        sum(o.float().mean() for o in out).backward()
        return time.perf_counter() - start

    return step


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    slim = SlimResNet(
        args.depth, stem=args.stem, width_mode=args.width_mode,
        widths=args.widths,
        width_range=(min(args.widths), max(args.widths))).train()
    x = torch.randn(args.batch, 3, args.size, args.size)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        slim = slim.to(memory_format=torch.channels_last)
    print(f'SlimResNet-{args.depth} {args.stem} stem, batch {args.batch}, '
          f'{args.size}x{args.size}, {args.threads} threads, '
          f'{args.reps} reps (median), forward+backward, torch '
          f'{torch.__version__}')
    print(f'{"width":>6} {"sliced ms":>10} {"narrow ms":>10} {"ratio":>6}')
    for width in args.widths:
        narrow = export_subnet(slim, width).train()
        if args.channels_last:
            narrow = narrow.to(memory_format=torch.channels_last)
        with using_width(slim, width):
            sliced_step, narrow_step = fwd_bwd(slim, x), fwd_bwd(narrow, x)
            for _ in range(args.warmup):
                sliced_step()
                narrow_step()
            sliced: List[float] = []
            plain: List[float] = []
            for rep in range(args.reps):
                # alternate which one goes first
                if rep % 2:
                    plain.append(narrow_step())
                    sliced.append(sliced_step())
                else:
                    sliced.append(sliced_step())
                    plain.append(narrow_step())
        t_sliced = statistics.median(sliced)
        t_plain = statistics.median(plain)
        print(f'{width:>6.2f} {t_sliced * 1e3:>10.1f} {t_plain * 1e3:>10.1f} '
              f'{t_sliced / t_plain:>6.3f}')


if __name__ == '__main__':
    main()
