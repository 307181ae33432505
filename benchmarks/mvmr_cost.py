# Copyright (c) slim_plugins contributors. All rights reserved.
"""What MV-MR's distance correlations and hand-crafted features cost, as
ratios measured in one run.

1. **dCor against the naive estimator**, forward + backward, at batch ``B``
   (default 256, the paper's) as the feature size ``p`` grows to ScatNet's
   (139 968 on STL-10), paired with ``z`` of ``--z-dim`` (8192).
   :func:`~slim_plugins.models.losses.distance_correlation` forms distances
   from the ``B x B`` Gram matrix; the naive estimator forms every pairwise
   difference, a ``B x B x p`` tensor. Each case runs in a fresh process
   and reports its median time and the growth of its peak resident memory
   (on a GPU, ``torch.cuda.max_memory_allocated``). A naive case whose
   difference tensors (``B x B x (p + z_dim)``) alone exceed
   ``--naive-max-gib`` is not run; the table says how much it would need.
2. **Share of a step spent on hand-crafted features**: one train step of
   the Fashion-MNIST MV-MR config (forward, backward, Adam) against the
   forward of its representations on the same batch, per representation
   and together (interleaved medians).

Example::

    python benchmarks/mvmr_cost.py --dims 1024 16384 139968
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
from typing import List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MVMR_CFG = 'configs/mv_mr/mvmr_resnet18_1xb64-adam-coslr-1e_fashion-mnist.py'
SCATNET_DIM = 139968  # 3 x 81 x 24 x 24: ScatNet J=2, L=8 on 96 x 96


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--dims', type=int, nargs='+',
                        default=[1024, 4096, 16384, 65536, SCATNET_DIM],
                        help='feature sizes p of the dCor sweep')
    parser.add_argument('--z-dim', type=int, default=8192)
    parser.add_argument('--naive-max-gib', type=float, default=4.0,
                        help='largest pairwise-difference tensors (B x B x '
                        '(p + z-dim)) the naive estimator may allocate')
    parser.add_argument('--step-batch', type=int, default=64,
                        help='images per step of the share measurement')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', default=None, help='write results (JSON)')
    parser.add_argument('--case', nargs=2, default=None,
                        help=argparse.SUPPRESS)  # child: IMPL DIM
    args = parser.parse_args(argv)
    if args.batch_size < 2 or args.step_batch < 2:
        parser.error('--batch-size and --step-batch must be >= 2 (dCor is '
                     'undefined for one sample).')
    if min(args.dims) < 1 or args.z_dim < 1 or args.repeats < 1:
        parser.error('--dims, --z-dim and --repeats must be >= 1.')
    return args


def naive_distance_correlation(x: torch.Tensor, z: torch.Tensor,
                               floor: float = 1e-4) -> torch.Tensor:
    """dCor from explicit pairwise differences (``B x B x p`` memory)."""

    def centred(v):
        diff = v[:, None, :] - v[None, :, :]
        dist = diff.pow(2).sum(-1).clamp_min(floor).sqrt()
        return (dist - dist.mean(0, keepdim=True) -
                dist.mean(1, keepdim=True) + dist.mean())

    a, b = centred(x), centred(z)
    return (a * b).mean().clamp_min(0).sqrt() / (
        (a * a).mean() * (b * b).mean()).clamp_min(1e-30).sqrt().sqrt()


def naive_bytes(batch: int, dim: int, z_dim: int) -> int:
    """Bytes of the naive estimator's two difference tensors, float32."""
    return batch * batch * (dim + z_dim) * 4


def run_case(impl: str, dim: int, args: argparse.Namespace) -> dict:
    """Time and peak memory of one estimator at one ``p`` (this process)."""
    from slim_plugins.models.losses import distance_correlation
    from slim_plugins.utils import PeakResidentMemory, interleaved_medians
    fn = dict(gram=distance_correlation,
              naive=naive_distance_correlation)[impl]
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, dim, generator=gen).to(device)
    z = torch.randn(args.batch_size, args.z_dim, generator=gen).to(device)
    z.requires_grad_(True)

    def step():
        fn(x, z).backward()
        z.grad = None

    seconds = interleaved_medians(dict(step=step), args.repeats)['step']
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        peak = torch.cuda.max_memory_allocated() - before
    else:
        with PeakResidentMemory() as memory:
            step()
        peak = memory.growth
    return dict(seconds=seconds, peak_bytes=peak)


def dcor_sweep(args: argparse.Namespace) -> List[dict]:
    from slim_plugins.utils import fixed_mmap_env
    rows = []
    for dim in args.dims:
        row = dict(dim=dim, naive_tensor_gib=naive_bytes(
            args.batch_size, dim, args.z_dim) / 2**30)
        for impl in ('gram', 'naive'):
            if impl == 'naive' and row['naive_tensor_gib'] > \
                    args.naive_max_gib:
                row[impl] = None
                continue
            result = subprocess.run([
                sys.executable, __file__, '--case', impl,
                str(dim), '--batch-size',
                str(args.batch_size), '--z-dim',
                str(args.z_dim), '--repeats',
                str(args.repeats)
            ], capture_output=True, text=True, cwd=ROOT,
                env=fixed_mmap_env())
            if result.returncode != 0:
                sys.exit(f'error: the {impl} case at p={dim} failed:\n'
                         f'{result.stderr[-2000:]}')
            row[impl] = json.loads(result.stdout.strip().splitlines()[-1])
        if row['naive'] is not None:
            row['naive_over_gram_time'] = (row['naive']['seconds'] /
                                           row['gram']['seconds'])
            row['naive_over_gram_memory'] = (
                row['naive']['peak_bytes'] /
                max(row['gram']['peak_bytes'], 1))
        rows.append(row)
        naive = row['naive']
        print(f'  p={dim:7d}: gram {row["gram"]["seconds"] * 1e3:8.1f} ms '
              f'{row["gram"]["peak_bytes"] / 2**20:8.1f} MiB | naive ' +
              (f'{naive["seconds"] * 1e3:8.1f} ms '
               f'{naive["peak_bytes"] / 2**20:8.1f} MiB '
               f'(x{row["naive_over_gram_time"]:.1f} time, '
               f'x{row["naive_over_gram_memory"]:.1f} memory)'
               if naive else f'not run: its difference tensors alone are '
               f'{row["naive_tensor_gib"]:.1f} GiB'), flush=True)
    return rows


def step_share(args: argparse.Namespace) -> dict:
    """Seconds of one train step and of the representations' forward."""
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from slim_plugins.registry import MODELS
    from slim_plugins.utils import interleaved_medians
    init_default_scope('slim_plugins')
    # init_weights reports every parameter at INFO; the table is the output.
    MMLogger.get_current_instance().setLevel('WARNING')
    cfg = Config.fromfile(osp.join(ROOT, MVMR_CFG))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    gen = torch.Generator().manual_seed(0)
    views = [
        torch.randint(0, 256, (args.step_batch, 1, 28, 28),
                      generator=gen).float() for _ in range(2)
    ]
    batch = dict(inputs=views, data_samples=None)
    original = model.data_preprocessor(batch, True)['inputs'][0]
    fns = dict(step=lambda: model.train_step(batch, optim))
    for name, module in model.representations.items():
        fns[name] = (lambda m=module: m(original))
    seconds = interleaved_medians(fns, args.repeats)
    features = sum(v for k, v in seconds.items() if k != 'step')
    return dict(
        step_batch=args.step_batch,
        step_seconds=seconds['step'],
        representation_seconds={
            k: v
            for k, v in seconds.items() if k != 'step'
        },
        representations_over_step=features / seconds['step'])


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, ROOT)
    import slim_plugins  # noqa: F401
    if args.case is not None:
        impl, dim = args.case
        print(json.dumps(run_case(impl, int(dim), args)))
        return
    print(f'dCor forward + backward, B={args.batch_size}, z of '
          f'{args.z_dim}:', flush=True)
    sweep = dcor_sweep(args)
    print(f'train step of {MVMR_CFG} (batch {args.step_batch}):', flush=True)
    share = step_share(args)
    for name, sec in share['representation_seconds'].items():
        print(f'  {name:16s} {sec * 1e3:8.2f} ms '
              f'({sec / share["step_seconds"] * 100:.1f} % of the step)')
    print(f'  step {share["step_seconds"] * 1e3:.1f} ms; hand-crafted '
          f'features: {share["representations_over_step"] * 100:.1f} % of '
          f'it')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(batch_size=args.batch_size, z_dim=args.z_dim,
                           dcor=sweep, step=share), f, indent=2)
        print(f'saved {args.out}')


if __name__ == '__main__':
    main()
