# Copyright (c) slim_plugins contributors. All rights reserved.
"""Run-time cost of slicing: SlimResNet at width w vs its exported copy.

For each width, times one forward + backward of the slim network at that
width and of the :class:`NarrowResNet` exported at the same width (same
weights, plain layers, nothing sliced at run time), interleaving them so
that machine noise hits all alike. Each round's times are compared with
each other (the speed of a shared machine drifts); the table gives the
median and quartiles of the per-round ratios and the median per-round
difference in milliseconds. A ratio of 1.00 means slicing is free.

The slim network is timed in the gradient modes of
:mod:`slim_plugins.ops.slicing`: ``autograd`` (each backward materialises a
full-size gradient per sliced weight) and ``in-place`` (what the
multi-width train step uses: each sliced layer runs as a plain narrow one on
a contiguous leaf, and the leaves' gradients are added into ``.grad`` in one
batched update after the backward). ``--control`` adds a second copy of
the narrow network, whose ratio to the first is what identical work
measures at that width.

The networks share one process, hence one heap. With glibc's default
settings a step re-touches freshly mapped pages (heap trimming, ``mmap``
for big blocks), and which network pays for those page faults depends on
the order and the heap's history more than on the network. So by default
malloc is told to keep what it frees (``--malloc keep``, as jemalloc,
tcmalloc and the CUDA caching allocator behave); ``--malloc default``
measures glibc as it comes, and every column reports its faults per step.

What slicing costs does not grow with the batch or the resolution: the
active weights are copied out when they changed (every step in training,
never here: nothing updates them) and their gradient is added into
``.grad`` after the backward, plus a few Python calls per layer. So
``extra ms`` is roughly a constant per width, and the ratio of another
workload is about ``1 + extra / narrow``.

Example::

    python benchmarks/slicing_overhead.py --depth 18 --stem cifar \\
        --batch 32 --size 32 --reps 21 --threads 2
"""
import argparse
import copy
import ctypes
import ctypes.util
import gc
import resource
import statistics
import time
from typing import Callable, List, Tuple

import torch
import torch.nn as nn

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.utils import export_subnet
from slim_plugins.ops import in_place_slice_grads, using_width

MODES = {'autograd': False, 'in-place': True}


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
    parser.add_argument('--reps', type=int, default=21,
                        help='timed rounds per width (each round times '
                        'every network once)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--channels-last', action='store_true',
                        help='run both networks in channels-last format')
    parser.add_argument('--modes', nargs='+', default=list(MODES),
                        choices=list(MODES),
                        help='gradient modes of the slim network to time')
    parser.add_argument('--existing-grad', action='store_true',
                        help='keep every .grad allocated (zeroed in place '
                        'between steps), as for every width after the first '
                        'of a multi-width step; the default sets them to '
                        'None, as for the first width')
    parser.add_argument('--malloc', default='keep',
                        choices=['keep', 'default'],
                        help="'keep' (the default) tells glibc's malloc to "
                        'keep the memory it frees instead of handing it back '
                        'to the system, as jemalloc, tcmalloc and the CUDA '
                        "caching allocator do; 'default' leaves glibc as it "
                        'is, and the page faults column shows what that '
                        'costs')
    parser.add_argument('--control', action='store_true',
                        help='also time a second copy of the narrow network '
                        '(an A/A ratio: the resolution at every width)')
    return parser.parse_args()


def keep_freed_memory() -> str:
    """Make glibc's malloc keep the memory it frees (no trim, no mmap).

    By default glibc serves big blocks with ``mmap`` and gives freed memory
    at the top of its heap back to the system, so a training step re-touches
    fresh pages: many page faults per step for ResNet-18 at batch 32, a
    share of the time that depends on the heap's history more than on the
    work.

    Returns:
        str: What was set, for the report.

    Raises:
        RuntimeError: If the C library is not glibc or refuses a setting.
    """
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    if not hasattr(libc, 'mallopt') or not hasattr(libc,
                                                   'gnu_get_libc_version'):
        raise RuntimeError('--malloc keep needs glibc (mallopt)')
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    threshold = 1 << 30
    for option, name in ((m_trim_threshold, 'M_TRIM_THRESHOLD'),
                         (m_mmap_threshold, 'M_MMAP_THRESHOLD')):
        if libc.mallopt(option, threshold) != 1:
            raise RuntimeError(f'glibc refused mallopt({name}, {threshold})')
    return 'glibc mallopt M_TRIM_THRESHOLD = M_MMAP_THRESHOLD = 1 GiB'


def fwd_bwd(model: nn.Module,
            x: torch.Tensor,
            in_place: bool = False,
            existing_grad: bool = False) -> Callable[[], Tuple[float, int]]:
    """A closure timing one forward + backward of ``model`` on ``x``.

    With ``existing_grad`` the gradients are zeroed in place before each
    step instead of set to None, so the backward adds into them. The
    closure returns the time and the minor page faults of the step.
    """

    def step() -> Tuple[float, int]:
        model.zero_grad(set_to_none=not existing_grad)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        with in_place_slice_grads(in_place):
            out = model(x)
        sum(o.float().mean() for o in out).backward()
        elapsed = time.perf_counter() - start
        return elapsed, resource.getrusage(
            resource.RUSAGE_SELF).ru_minflt - faults

    return step


def paired_extra_ms(times: List[float], reference: List[float]) -> str:
    """Median per-round difference ``times - reference`` in ms.

    Slicing adds a cost per layer and per step that does not grow with the
    batch or the resolution; this is it, so the ratio of any other workload
    can be estimated as ``1 + extra / narrow``.
    """
    extra = statistics.median(t - r for t, r in zip(times, reference))
    return f'{extra * 1e3:+.1f}'


def paired_ratio(times: List[float], reference: List[float]) -> str:
    """Median and quartiles of per-round ratios ``times / reference``.

    The machine's speed drifts (shared cores, frequency), so each round's
    measurements, taken back to back, are compared with each other rather
    than medians of whole columns.
    """
    ratios = sorted(t / r for t, r in zip(times, reference))
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return f'{median:.3f} [{q1:.2f}-{q3:.2f}]'


def main() -> None:
    args = parse_args()
    allocator = keep_freed_memory() if args.malloc == 'keep' else \
        'default malloc settings'
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
          f'{args.size}x{args.size}, {args.threads} threads, {args.reps} '
          f'rounds, forward+backward, '
          f'{"existing" if args.existing_grad else "no"} .grad before each '
          f'step, {allocator}, torch {torch.__version__}')
    print('ratio = sliced / narrow per round: median [quartiles]; extra = '
          'sliced - narrow per round, median; weights = active parameters. '
          'Nothing is sliced at width 1.0, so its spread is the resolution '
          'of the machine. faults = minor page faults per step, median.')
    header = ['width', 'weights MB', 'narrow ms', 'faults']
    widths = [7, 10, 10, 7]
    columns = (['control'] if args.control else []) + args.modes
    for column in columns:
        header += [f'{column} ms', 'ratio', 'extra ms', 'faults']
        widths += [12, 18, 9, 7]
    print(' '.join(f'{h:>{w}}' for h, w in zip(header, widths)))
    # Python's collector would otherwise pause whichever model allocates
    # the most small objects; these are timings of torch, not of gc.
    gc.collect()
    gc.freeze()
    for width in args.widths:
        narrow = export_subnet(slim, width, running_stats=True).train()
        if args.channels_last:
            narrow = narrow.to(memory_format=torch.channels_last)
        with using_width(slim, width):
            keep = args.existing_grad
            steps = [fwd_bwd(narrow, x, existing_grad=keep)]
            if args.control:
                steps.append(
                    fwd_bwd(copy.deepcopy(narrow), x, existing_grad=keep))
            steps += [
                fwd_bwd(slim, x, in_place=MODES[mode], existing_grad=keep)
                for mode in args.modes
            ]
            for _ in range(args.warmup):
                for step in steps:
                    step()
            times: List[List[float]] = [[] for _ in steps]
            faults: List[List[int]] = [[] for _ in steps]
            for rep in range(args.reps):
                # rotate which one goes first
                for k in range(len(steps)):
                    j = (rep + k) % len(steps)
                    elapsed, step_faults = steps[j]()
                    times[j].append(elapsed)
                    faults[j].append(step_faults)
        plain = times[0]
        weight_mb = sum(p.numel() * p.element_size()
                        for p in narrow.parameters()) / 2**20
        row = [
            f'{width:.2f}', f'{weight_mb:.1f}',
            f'{statistics.median(plain) * 1e3:.1f}',
            f'{statistics.median(faults[0]):.0f}'
        ]
        for sliced, sliced_faults in zip(times[1:], faults[1:]):
            row += [
                f'{statistics.median(sliced) * 1e3:.1f}',
                paired_ratio(sliced, plain),
                paired_extra_ms(sliced, plain),
                f'{statistics.median(sliced_faults):.0f}'
            ]
        print(' '.join(f'{c:>{w}}' for c, w in zip(row, widths)))


if __name__ == '__main__':
    main()
