# Copyright (c) slim_plugins contributors. All rights reserved.
"""Print MACs and active parameters of a config's SlimResNet per width.

Counts are taken on the exported (static) network of each width: MACs of
all convolutions (plus a ``--num-classes`` linear classifier if asked), for
one image of ``--shape``; parameters are those the width really uses, BN
affine included. Backbone only unless ``--num-classes`` is given.

Example::

    python tools/analysis_tools/get_flops.py CONFIG \\
        --widths 1.0 0.75 0.5 0.25 --shape 32 32
"""
import argparse
import copy
import os.path as osp
import sys

from mmengine.config import DictAction

import slim_plugins  # noqa: F401
from slim_plugins.models.backbones import SlimResNet
from slim_plugins.registry import MODELS
from slim_plugins.utils import width_complexity


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='MACs and active params of a SlimResNet per width.')
    parser.add_argument('config', help='config whose model.backbone is a '
                        'SlimResNet')
    parser.add_argument('--widths', type=float, nargs='+', default=None,
                        help='widths (default: the switchable widths, or '
                        '1.0 0.75 0.5 0.25)')
    parser.add_argument('--shape', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='input size (default 32 32 for the cifar stem, '
                        '224 224 otherwise)')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='also count a linear classifier with this many '
                        'outputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def main() -> None:
    # tools/ is not a package: reach the shared tool helpers by path.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from tool_utils import load_config

    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    backbone_cfg = copy.deepcopy(cfg.model.get('backbone', cfg.model))
    backbone_cfg.pop('init_cfg', None)
    backbone = MODELS.build(backbone_cfg)
    if not isinstance(backbone, SlimResNet):
        raise ValueError(f'model.backbone of {args.config} is a '
                         f'{type(backbone).__name__}; this tool reports '
                         'SlimResNet backbones.')
    widths = args.widths
    if widths is None:
        widths = (backbone.width_state.widths
                  or (1.0, 0.75, 0.5, 0.25))
    shape = args.shape or ((32, 32) if backbone.stem == 'cifar' else
                           (224, 224))
    rows = width_complexity(backbone, widths,
                            (backbone.in_channels, *shape), args.num_classes)
    scope = ('backbone + fc' if args.num_classes else 'backbone')
    print(f'SlimResNet-{backbone.depth} ({backbone.stem} stem, '
          f'{backbone.width_mode}, rule {backbone.channel_rule}), input '
          f'{shape[0]}x{shape[1]}, {scope}; MACs count convs'
          f'{" and fc" if args.num_classes else ""}')
    print(f'{"width":>7} {"MACs":>12} {"active params":>14} '
          f'{"stage channels":>24}')
    for row in rows:
        channels = backbone.active_channels(row.width)
        print(f'{row.width:>7.3f} {row.macs / 1e6:>10.2f} M '
              f'{row.params / 1e6:>12.3f} M {str(channels):>24}')


if __name__ == '__main__':
    main()
