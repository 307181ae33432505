# Copyright (c) slim_plugins contributors. All rights reserved.
"""What EMP-SSL's many patches cost, as ratios measured in one run.

1. **TCR**: :func:`~slim_plugins.models.losses.total_coding_rate.coding_rate`
   (Sylvester form, Cholesky of the ``B x B`` Gram matrix) against the
   ``d x d`` form of the paper (``logdet(I_d + c Z^T Z)``), forward +
   backward, at the paper's chunk (``B`` 100, ``d`` 1024): time ratio and
   value difference.
2. **Step time per patch**: one full train step (preprocessing, forward,
   backward, LARS update) of the EMP-SSL config divided by its patches
   (``n x B``), against one step of the plain mmpretrain SimCLR config of
   the same data divided by its views (``2 x B``).
3. **Peak memory against n** (patches per image at a fixed batch): each
   ``n`` runs one step in a fresh process and reports the growth of its peak
   resident memory over the step (``ru_maxrss``; on a GPU,
   ``torch.cuda.max_memory_allocated``). Activations grow with ``n x B``
   patches, so the growth should be about linear in ``n``: the script
   prints growth / n relative to the smallest ``n``.

Times are medians of ``--repeats`` after a warm-up, the two sides
interleaved so that machine noise hits both alike.

Example::

    python benchmarks/emp_ssl_cost.py --patches 4 8 16 32
"""
import argparse
import json
import os.path as osp
import statistics
import subprocess
import sys
from typing import Dict, List, Optional

import torch

from slim_plugins.utils import (PeakResidentMemory, fixed_mmap_env,
                                interleaved_medians)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EMP_CFG = 'configs/emp_ssl/empssl_resnet18_1xb32-coslr-1e_fashion-mnist.py'
SIMCLR_CFG = 'configs/simclr/simclr_resnet18_1xb64-coslr-1e_fashion-mnist.py'
IMAGE = (1, 28, 28)
CHILD_ENV = fixed_mmap_env()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=32,
                        help='images per step (both methods)')
    parser.add_argument('--num-patches', type=int, default=8,
                        help='EMP-SSL patches per image for the step time')
    parser.add_argument('--patches', type=int, nargs='+',
                        default=[4, 8, 16, 32],
                        help='patches per image of the memory sweep')
    parser.add_argument('--tcr-batch', type=int, default=100)
    parser.add_argument('--tcr-dim', type=int, default=1024)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=None, help='write results (JSON)')
    parser.add_argument('--memory-step', type=int, default=None,
                        help=argparse.SUPPRESS)  # child process of the sweep
    args = parser.parse_args(argv)
    bad = [n for n in args.patches + [args.num_patches] if n < 2]
    if bad or args.batch_size < 2 or args.repeats < 1:
        parser.error(f'need patches >= 2 (got {bad}), --batch-size >= 2 and '
                     f'--repeats >= 1.')
    return args


def dense_coding_rate(z: torch.Tensor, eps: float = 0.2) -> torch.Tensor:
    """The paper's ``1/2 logdet(I_d + d / (B eps) Z^T Z)`` (d x d)."""
    batch, dim = z.shape
    eye = torch.eye(dim, dtype=z.dtype)
    return 0.5 * torch.logdet(eye + dim / (batch * eps) * z.t() @ z)


def tcr_comparison(args: argparse.Namespace) -> dict:
    from slim_plugins.models.losses.total_coding_rate import coding_rate
    gen = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(
        torch.randn(args.tcr_batch, args.tcr_dim, generator=gen), dim=1)
    z.requires_grad_(True)

    def run(fn):
        def step():
            z.grad = None
            fn(z).backward()
        return step

    seconds = interleaved_medians(
        dict(sylvester=run(coding_rate), dense=run(dense_coding_rate)),
        args.repeats)
    z64 = z.detach().double()
    exact = float(dense_coding_rate(z64))
    return dict(
        batch=args.tcr_batch,
        dim=args.tcr_dim,
        seconds=seconds,
        dense_over_sylvester=seconds['dense'] / seconds['sylvester'],
        value_sylvester=float(coding_rate(z.detach())),
        value_dense=float(dense_coding_rate(z.detach())),
        value_float64=exact,
        abs_diff_sylvester_float64=abs(
            float(coding_rate(z.detach())) - exact))


def build(config: str, options: Optional[dict] = None):
    """The config's model and optimizer wrapper, as the runner builds
    them."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from slim_plugins.registry import MODELS
    init_default_scope('slim_plugins')
    cfg = Config.fromfile(osp.join(ROOT, config))
    if options:
        cfg.merge_from_dict(options)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train(), build_optim_wrapper(model, cfg.optim_wrapper)


def batch_of(views: int, images: int) -> dict:
    """``views`` uint8-valued tensors of ``images`` Fashion-MNIST-sized
    images, as the loader packs them (data samples unused by both)."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(1)
    return dict(
        inputs=[
            torch.randint(0, 256, (images, *IMAGE), generator=gen).float()
            for _ in range(views)
        ],
        data_samples=[DataSample() for _ in range(images)])


def step_time(args: argparse.Namespace) -> dict:
    emp, emp_optim = build(EMP_CFG)
    simclr, simclr_optim = build(SIMCLR_CFG)
    emp_batch = batch_of(args.num_patches, args.batch_size)
    simclr_batch = batch_of(2, args.batch_size)
    seconds = interleaved_medians(
        dict(
            empssl=lambda: emp.train_step(emp_batch, emp_optim),
            simclr=lambda: simclr.train_step(simclr_batch, simclr_optim)),
        args.repeats)
    per_patch = seconds['empssl'] / (args.num_patches * args.batch_size)
    per_view = seconds['simclr'] / (2 * args.batch_size)
    return dict(
        batch_size=args.batch_size,
        num_patches=args.num_patches,
        seconds=seconds,
        empssl_seconds_per_patch=per_patch,
        simclr_seconds_per_view=per_view,
        per_patch_over_per_view=per_patch / per_view)


def memory_step(num_patches: int, batch_size: int) -> int:
    """Growth of the peak memory over one EMP-SSL step (this process)."""
    model, optim = build(EMP_CFG)
    batch = batch_of(num_patches, batch_size)
    if torch.cuda.is_available():
        model.cuda()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        model.train_step(batch, optim)
        return torch.cuda.max_memory_allocated() - before
    # The first step allocates what every step keeps (optimizer state,
    # gradients); the second shows what the patches cost.
    model.train_step(batch, optim)
    with PeakResidentMemory() as memory:
        model.train_step(batch, optim)
    return memory.growth


def linear_fit(growth: Dict[int, float]) -> dict:
    """Least-squares ``growth = fixed + per_patch * n`` and the largest
    distance of a point from that line, relative to the largest growth."""
    ns = sorted(growth)
    mean_n = statistics.fmean(ns)
    mean_g = statistics.fmean(growth[n] for n in ns)
    spread = sum((n - mean_n)**2 for n in ns)
    slope = sum((n - mean_n) * (growth[n] - mean_g) for n in ns) / spread
    fixed = mean_g - slope * mean_n
    worst = max(abs(growth[n] - fixed - slope * n) for n in ns)
    return dict(
        per_patch_bytes=slope,
        fixed_bytes=fixed,
        max_deviation_over_largest=worst / max(growth.values()))


def memory_sweep(args: argparse.Namespace) -> dict:
    growth = {}
    for n in sorted(args.patches):
        result = subprocess.run([
            sys.executable, __file__, '--memory-step',
            str(n), '--batch-size',
            str(args.batch_size)
        ],
                                capture_output=True,
                                text=True,
                                cwd=ROOT,
                                env=CHILD_ENV)
        if result.returncode != 0:
            sys.exit(f'error: the memory step with {n} patches failed:\n'
                     f'{result.stderr[-2000:]}')
        growth[n] = int(result.stdout.strip().splitlines()[-1])
        print(f'  n={n:3d}: peak grows by {growth[n] / 2**20:8.1f} MiB',
              flush=True)
    return dict(batch_size=args.batch_size, growth_bytes=growth,
                **linear_fit(growth))


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, ROOT)
    import slim_plugins  # noqa: F401
    if args.memory_step is not None:
        print(memory_step(args.memory_step, args.batch_size))
        return
    torch.set_num_threads(torch.get_num_threads())
    print('TCR, forward + backward:', flush=True)
    tcr = tcr_comparison(args)
    print(f'  B={tcr["batch"]}, d={tcr["dim"]}: d x d form / Sylvester form '
          f'= {tcr["dense_over_sylvester"]:.2f}x time; |R_sylvester - '
          f'R_float64| = {tcr["abs_diff_sylvester_float64"]:.2e} '
          f'(R = {tcr["value_float64"]:.4f})')
    print('Train step per patch vs per view:', flush=True)
    step = step_time(args)
    print(f'  EMP-SSL {step["num_patches"]} patches x {step["batch_size"]}: '
          f'{step["seconds"]["empssl"]:.3f} s, SimCLR 2 views x '
          f'{step["batch_size"]}: {step["seconds"]["simclr"]:.3f} s; per '
          f'patch / per view = {step["per_patch_over_per_view"]:.2f}')
    print(f'Peak memory of one step, batch {args.batch_size}:', flush=True)
    memory = memory_sweep(args)
    print(f'  linear fit: {memory["per_patch_bytes"] / 2**20:.2f} MiB per '
          f'patch index ({args.batch_size} patches) + '
          f'{memory["fixed_bytes"] / 2**20:.1f} MiB; the '
          f'worst point is off the line by '
          f'{100 * memory["max_deviation_over_largest"]:.1f} % of the largest'
          f' growth')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(tcr=tcr, step=step, memory=memory), f, indent=2)
        print(f'saved {args.out}')


if __name__ == '__main__':
    main()
