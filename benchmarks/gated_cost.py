# Copyright (c) slim_plugins contributors. All rights reserved.
"""What a gated network costs and saves, as ratios measured in one run.

1. **Training**: one full train step (preprocessing, gated pass on view 0,
   dense pass on view 1, VICReg + budget losses, LARS update) of the
   Fashion-MNIST ``DualBranchVICReg`` config, divided by one step of the
   dense-only ``VICReg`` config on the same batch. The gated pass computes
   every channel and multiplies by the mask, so it saves nothing here.
2. **Inference** (eval mode, batch ``--batch-size``): forward time of the
   original gated path and of the exported
   :class:`~slim_plugins.models.backbones.PrunedGatedResNet` (channels that
   a calibration batch never turned on removed), each divided by the dense
   path's, next to their MACs ratios (achieved, averaged over the batch).

Times are medians of ``--repeats`` after a warm-up, interleaved so that
machine noise hits every side alike. The inputs are random images of
Fashion-MNIST's shape (the calibration batch of the export is one of them,
so the MACs ratios are those of that batch, not of the test set). Without
``--checkpoint`` the backbone is randomly initialised (about half of its
channels on); with the checkpoint of the Fashion-MNIST config the gates are
the trained ones.

Example::

    python benchmarks/gated_cost.py --checkpoint work_dirs/dual/epoch_1.pth
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

import torch

from slim_plugins.utils import interleaved_medians

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DUAL_CFG = ('configs/unification/'
            'dual-vicreg-t0.3_gated-resnet18_1xb64-coslr-1e_fashion-mnist.py')
VICREG_CFG = ('configs/unification/'
              'vicreg_resnet18_1xb64-coslr-1e_fashion-mnist.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checkpoint', default=None,
                        help='a checkpoint of the DualBranchVICReg config')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default=None, help='write results (JSON)')
    args = parser.parse_args(argv)
    if args.batch_size < 2 or args.repeats < 1:
        parser.error('need --batch-size >= 2 and --repeats >= 1.')
    return args


def build(config: str, checkpoint: Optional[str] = None):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from slim_plugins.registry import MODELS
    from slim_plugins.utils import load_checkpoint_file, load_state_dict_strict
    init_default_scope('slim_plugins')
    cfg = Config.fromfile(osp.join(ROOT, config))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint:
        state = load_checkpoint_file(checkpoint)
        load_state_dict_strict(model, state.get('state_dict', state),
                               checkpoint)
    return model.train(), build_optim_wrapper(model, cfg.optim_wrapper)


def images(count: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 1, 28, 28), generator=gen).float()


def training_ratio(args: argparse.Namespace) -> dict:
    from mmpretrain.structures import DataSample
    dual, dual_optim = build(DUAL_CFG, args.checkpoint)
    plain, plain_optim = build(VICREG_CFG)
    batch = dict(
        inputs=[images(args.batch_size, 1),
                images(args.batch_size, 2)],
        data_samples=[DataSample() for _ in range(args.batch_size)])
    seconds = interleaved_medians(
        dict(
            dual=lambda: dual.train_step(batch, dual_optim),
            vicreg=lambda: plain.train_step(batch, plain_optim)),
        args.repeats)
    return dict(seconds=seconds,
                dual_over_vicreg=seconds['dual'] / seconds['vicreg'])


@torch.no_grad()
def inference_ratios(args: argparse.Namespace) -> dict:
    from slim_plugins.models.backbones import PrunedGatedResNet
    from slim_plugins.models.utils import collect_gate_usage
    from slim_plugins.ops import using_gate_path
    dual, _ = build(DUAL_CFG, args.checkpoint)
    gated = dual.backbone.eval()
    x = dual.data_preprocessor(
        dict(inputs=[images(args.batch_size, 3)], data_samples=None),
        False)['inputs'][0]
    usage = collect_gate_usage(gated, [x])
    pruned, _ = PrunedGatedResNet.from_gated(gated, usage)

    def dense():
        with using_gate_path(gated, 'dense'):
            gated(x)

    def gated_path():
        with using_gate_path(gated, 'gated'):
            gated(x)

    seconds = interleaved_medians(
        dict(dense=dense, gated=gated_path, exported=lambda: pruned(x)),
        args.repeats)
    with using_gate_path(gated, 'gated'):
        gated(x)
        stats = gated.gate_stats()
    pruned(x)
    dense_macs = stats.dense_macs
    return dict(
        batch_size=args.batch_size,
        seconds=seconds,
        gated_time_over_dense=seconds['gated'] / seconds['dense'],
        exported_time_over_dense=seconds['exported'] / seconds['dense'],
        gated_macs_over_dense=float(stats.macs.mean()) / dense_macs,
        exported_macs_over_dense=float(pruned.macs().float().mean()) /
        dense_macs)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    import slim_plugins  # noqa: F401
    train = training_ratio(args)
    print(f'train step, DualBranchVICReg / dense VICReg: '
          f'{train["dual_over_vicreg"]:.2f}x '
          f'({train["seconds"]["dual"]:.3f} s / '
          f'{train["seconds"]["vicreg"]:.3f} s, batch {args.batch_size})')
    infer = inference_ratios(args)
    print(f'eval forward / dense path (batch {args.batch_size}):\n'
          f'  gated path (original): time {infer["gated_time_over_dense"]:.2f}'
          f', MACs {infer["gated_macs_over_dense"]:.2f}\n'
          f'  exported network:      time '
          f'{infer["exported_time_over_dense"]:.2f}, MACs '
          f'{infer["exported_macs_over_dense"]:.2f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(train=train, inference=infer), f, indent=2)
        print(f'saved {args.out}')


if __name__ == '__main__':
    main()
