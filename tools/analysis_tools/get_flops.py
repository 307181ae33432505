# Copyright (c) slim_plugins contributors. All rights reserved.
"""Print MACs and active parameters of a config's SlimResNet per width.

Counts are taken on the exported (static) network of each width: MACs of
all convolutions (plus a ``--num-classes`` linear classifier if asked), for
one image of ``--shape``; parameters are those the width really uses, BN
affine included. Backbone only unless ``--num-classes`` is given.

Example::

    python tools/analysis_tools/get_flops.py CONFIG \\
        --widths 1.0 0.75 0.5 0.25 --shape 32 32

An mmdet detector config (``model`` with ``rpn_head``/``roi_head``/
``bbox_head``) is reported part by part (backbone, neck, RPN/dense head, RoI
heads at ``--num-proposals``/``--num-masks`` RoIs), default input 800x1333:
per width of a slimmable backbone (``SlimmableMaskRCNN``), or, for a
backbone with a ``width`` argument (``DeployedSlimResNet``), rebuilt at each
of ``--widths``; ``--markdown`` prints a markdown table::

    python tools/analysis_tools/get_flops.py configs/benchmarks/\\
mmdetection/mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py \\
        --widths 1.0 0.75 0.5 0.25 --markdown
"""
import argparse
import copy
import os.path as osp
import sys

from mmengine.config import DictAction

import slim_plugins  # noqa: F401
from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.utils import width_complexity
from slim_plugins.registry import MODELS


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
                        '224 224 otherwise, 800 1333 for detectors)')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='also count a linear classifier with this many '
                        'outputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--num-proposals', type=int, default=1000,
                        help='detectors: RoIs through the box head '
                        '(default 1000, mmdet test default)')
    parser.add_argument('--num-masks', type=int, default=100,
                        help='detectors: RoIs through the mask head '
                        '(default 100)')
    parser.add_argument('--markdown', action='store_true',
                        help='detectors: print a markdown table')
    return parser.parse_args()


def is_detector_config(model_cfg: dict) -> bool:
    """Whether ``model_cfg`` describes an mmdet detector."""
    return 'backbone' in model_cfg and any(
        key in model_cfg for key in ('rpn_head', 'roi_head', 'bbox_head'))


def detector_rows(cfg, args: argparse.Namespace) -> tuple:
    """Complexity rows of the detector of ``cfg`` (meta device)."""
    import torch
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import init_default_scope

    from slim_plugins.models.detectors import detector_complexity
    from slim_plugins.ops import slim_ops

    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg', None)
    shape = tuple(args.shape or (800, 1333))
    in_channels = model_cfg.backbone.get('in_channels', 3)
    kwargs = dict(
        input_shape=(in_channels, *shape),
        num_proposals=args.num_proposals,
        num_masks=args.num_masks)

    def build(width=None):
        cfg_w = copy.deepcopy(model_cfg)
        if width is not None:
            cfg_w.backbone.width = width
        with torch.device('meta'):
            return ROOT_MODELS.build(cfg_w)

    detector = build()
    if slim_ops(detector.backbone):
        widths = args.widths or detector.backbone.width_state.widths or (
            1.0, 0.75, 0.5, 0.25)
        return detector, detector_complexity(detector, widths=widths,
                                             **kwargs)
    if 'width' in model_cfg.backbone and args.widths:
        rows = sum((detector_complexity(build(w), **kwargs)
                    for w in args.widths), ())
        return detector, tuple(
            row._replace(width=float(w)) for w, row in zip(args.widths, rows))
    row, = detector_complexity(detector, **kwargs)
    width = model_cfg.backbone.get('width', None)
    return detector, (row._replace(width=width), )


def print_detector(cfg, args: argparse.Namespace) -> None:
    """Print the per-width cost table of a detector config."""
    detector, rows = detector_rows(cfg, args)
    shape = args.shape or (800, 1333)
    print(f'{cfg.model.type} / {cfg.model.backbone.type}, input '
          f'{shape[0]}x{shape[1]}; GMACs of convs, deconvs and fcs '
          f'(RoI heads at {args.num_proposals} box / {args.num_masks} mask '
          'RoIs); params in M')
    header = ('width', 'backbone', 'neck', 'rpn/dense head', 'roi heads',
              'total', 'backbone params', 'params')
    table = [[
        '-' if row.width is None else f'{row.width:g}',
        f'{row.backbone / 1e9:.2f}', f'{row.neck / 1e9:.2f}',
        f'{row.dense_head / 1e9:.2f}', f'{row.roi_head / 1e9:.2f}',
        f'{row.total / 1e9:.2f}', f'{row.backbone_params / 1e6:.2f}',
        f'{row.params / 1e6:.2f}'
    ] for row in rows]
    if args.markdown:
        print('| ' + ' | '.join(header) + ' |')
        print('|' + '|'.join('---:' for _ in header) + '|')
        for line in table:
            print('| ' + ' | '.join(line) + ' |')
        return
    widths = [max(len(h), *(len(r[i]) for r in table))
              for i, h in enumerate(header)]
    print('  '.join(h.rjust(w) for h, w in zip(header, widths)))
    for line in table:
        print('  '.join(c.rjust(w) for c, w in zip(line, widths)))


def main() -> None:
    # tools/ is not a package: reach the shared tool helpers by path.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from tool_utils import load_config

    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if is_detector_config(cfg.model):
        print_detector(cfg, args)
        return
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
