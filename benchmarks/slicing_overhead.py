# Copyright (c) slim_plugins contributors. All rights reserved.
"""Run-time cost of slicing: SlimResNet at width w vs its exported copy.

For each width, times one forward + backward of the slim network at that
width and of the :class:`NarrowResNet` exported at the same width (same
weights, plain layers, nothing sliced at run time), interleaving them so
that machine noise hits all alike, and prints the ratio of the medians.
A ratio of 1.00 means slicing is free.

The slim network is timed in both gradient modes of
:mod:`slim_plugins.ops.slicing`: ``autograd`` (each backward materialises a
full-size gradient per sliced weight) and ``in-place`` (what the
multi-width train step uses: the active block is written into a reused
``.grad`` buffer).

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
from slim_plugins.ops import in_place_slice_grads, using_width
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


def fwd_bwd(model: nn.Module,
            x: torch.Tensor,
            in_place: bool = False) -> Callable[[], float]:
    """A closure timing one forward + backward of ``model`` on ``x``."""

    def step() -> float:
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        with in_place_slice_grads(in_place):
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
    header = ['width', 'narrow ms', 'autograd ms', 'ratio', 'in-place ms',
              'ratio']
    print(' '.join(f'{h:>11}' for h in header))
    for width in args.widths:
        narrow = export_subnet(slim, width).train()
        if args.channels_last:
            narrow = narrow.to(memory_format=torch.channels_last)
        with using_width(slim, width):
            steps = [
                fwd_bwd(narrow, x),
                fwd_bwd(slim, x),
                fwd_bwd(slim, x, in_place=True)
            ]
            for _ in range(args.warmup):
                for step in steps:
                    step()
            times: List[List[float]] = [[] for _ in steps]
            for rep in range(args.reps):
                # rotate which one goes first
                for k in range(len(steps)):
                    j = (rep + k) % len(steps)
                    times[j].append(steps[j]())
        plain, autograd, in_place = (statistics.median(t) for t in times)
        row = [
            f'{width:.2f}', f'{plain * 1e3:.1f}', f'{autograd * 1e3:.1f}',
            f'{autograd / plain:.3f}', f'{in_place * 1e3:.1f}',
            f'{in_place / plain:.3f}'
        ]
        print(' '.join(f'{c:>11}' for c in row))


if __name__ == '__main__':
    main()
