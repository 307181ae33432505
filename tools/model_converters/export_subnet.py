# Copyright (c) slim_plugins contributors. All rights reserved.
"""Export a SlimResNet checkpoint at one width as a static NarrowResNet.

Writes, into ``--out-dir``:

* ``narrow_resnet_w{W}.py``: the input config with ``model.backbone``
  replaced by the ``NarrowResNet`` of that width, pre-trained from the file
  below (``init_cfg=dict(type='Pretrained', prefix='backbone.')``), and
  every neck/head ``in_channels`` that equals the full-width backbone
  output set to the exported width's (each rewrite is printed);
* ``narrow_resnet_w{W}.pth``: ``{'state_dict': {'backbone.*': ...},
  'meta': {...}}`` with physically sliced weights and BN statistics;
* ``resnet_w{W}_mmpretrain.pth``: the same tensors, when the width is
  expressible as mmpretrain's ``ResNet``/``ResNet_CIFAR(base_channels=...)``
  (the config to use is printed and stored in ``meta``).

Example::

    python tools/model_converters/export_subnet.py \\
        configs/us3l/xxx.py work_dirs/xxx/epoch_400.pth --width 0.5 \\
        --out-dir work_dirs/export
"""
import argparse
import copy
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Sequence

import torch
from mmengine.config import Config, DictAction

import slim_plugins  # noqa: F401
from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.utils import export_subnet
from slim_plugins.registry import MODELS
from slim_plugins.utils import (load_checkpoint_file, load_state_dict_strict,
                                strip_prefix)
from slim_plugins.utils.bn_calibration import get_bank


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a SlimResNet at one width as a NarrowResNet.')
    parser.add_argument('config', help='config whose model.backbone is a '
                        'SlimResNet')
    parser.add_argument('checkpoint', help='checkpoint with backbone.* keys')
    parser.add_argument('--width', type=float, required=True,
                        help='width to export, e.g. 0.5')
    parser.add_argument('--out-dir', required=True, help='output directory')
    parser.add_argument('--prefix', default='backbone.',
                        help='key prefix of the backbone in the checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def build_backbone(cfg: Config) -> SlimResNet:
    """Build ``cfg.model.backbone`` (without its init_cfg)."""
    backbone_cfg = copy.deepcopy(cfg.model.get('backbone', cfg.model))
    backbone_cfg.pop('init_cfg', None)
    if backbone_cfg.get('track_running_stats') is False:
        # A deployed network needs statistics: those of a checkpoint that
        # tools/calibrate_bn.py calibrated (a plain pre-training checkpoint
        # of such a config has none, and loading it lists them as missing).
        backbone_cfg['track_running_stats'] = True
        print('  the config trains without running statistics; exporting '
              'with the calibrated statistics of the checkpoint')
    backbone = MODELS.build(backbone_cfg)
    if not isinstance(backbone, SlimResNet):
        raise ValueError(f'model.backbone of the config is a '
                         f'{type(backbone).__name__}; this tool exports '
                         'SlimResNet backbones.')
    # The checkpoint's calibrated statistics (tools/calibrate_bn.py) load
    # into the bank, which a shared-BN export takes the width's from.
    get_bank(backbone, create=True)
    return backbone


def load_backbone(backbone: SlimResNet, path: str, prefix: str) -> None:
    """Load the backbone tensors of an mmengine checkpoint strictly."""
    checkpoint = load_checkpoint_file(path)
    state_dict = checkpoint.get('state_dict', checkpoint)
    selected = strip_prefix(state_dict, prefix)
    if not selected:
        raise ValueError(f'{path} has no key starting with {prefix!r} '
                         f'(first keys: {list(state_dict)[:5]}); pass the '
                         'right --prefix.')
    load_state_dict_strict(backbone, selected, source=path)


def narrow_type(slim_type: str) -> str:
    """``'SlimResNet'`` -> ``'NarrowResNet'``, keeping any scope prefix."""
    scope = slim_type.rpartition('.')[0]
    return f'{scope}.NarrowResNet' if scope else 'NarrowResNet'


def to_plain(value: Any) -> Any:
    """Tuples -> lists, recursively (readable configs, safe metadata)."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def rewrite_in_channels(model_cfg: Any, full: Sequence[int],
                        narrow: Sequence[int]) -> List[str]:
    """Set the neck/head ``in_channels`` that equal the full-width backbone
    outputs to the exported widths.

    ``full``/``narrow`` are the channels of the backbone's returned stages;
    a single stage also matches a scalar ``in_channels`` (a pooling neck or
    a linear head), several stages a list (an FPN). Any other value is left
    alone (it does not come from the backbone).

    Returns:
        list[str]: One line per rewritten entry, for the log.
    """
    changed = []
    targets = []
    for key in ('neck', 'head'):
        part = model_cfg.get(key)
        parts = part if isinstance(part, (list, tuple)) else [part]
        targets += [(f'{key}[{i}]' if isinstance(part, (list, tuple))
                     else key, item) for i, item in enumerate(parts)
                    if isinstance(item, dict)]
    for name, item in targets:
        value = item.get('in_channels')
        if isinstance(value, (list, tuple)) and list(value) == list(full):
            item['in_channels'] = list(narrow)
        elif len(full) == 1 and value == full[0]:
            item['in_channels'] = narrow[0]
        else:
            continue
        changed.append(f'{name}.in_channels: {value} -> '
                       f'{item["in_channels"]}')
    return changed


def main() -> None:
    # tools/ is not a package: reach the shared tool helpers by path.
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from tool_utils import load_config

    args = parse_args()
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    os.makedirs(args.out_dir, exist_ok=True)
    tag = f'w{args.width:g}'

    print(f'[1/4] building {cfg.model.backbone.type} from {args.config}')
    backbone = build_backbone(cfg)
    print(f'[2/4] loading {args.checkpoint} (prefix {args.prefix!r})')
    load_backbone(backbone, args.checkpoint, args.prefix)

    print(f'[3/4] slicing at width {args.width:g}')
    narrow = export_subnet(backbone.eval(), args.width)
    kwargs: Dict[str, Any] = to_plain(backbone.narrow_kwargs(args.width))
    state_dict = {
        args.prefix + key: value
        for key, value in narrow.state_dict().items()
    }
    meta = dict(
        width=args.width,
        source_config=osp.abspath(args.config),
        source_checkpoint=osp.abspath(args.checkpoint),
        width_mode=backbone.width_mode,
        channel_rule=backbone.channel_rule,
        narrow_resnet=kwargs)

    print(f'[4/4] writing to {args.out_dir}')
    pth = osp.join(args.out_dir, f'narrow_resnet_{tag}.pth')
    torch.save({'state_dict': state_dict, 'meta': meta}, pth)
    cfg.model.backbone = dict(
        type=narrow_type(cfg.model.backbone.type),
        **kwargs,
        init_cfg=dict(
            type='Pretrained',
            checkpoint=osp.abspath(pth),
            prefix='backbone.'))
    if 'custom_imports' not in cfg:
        cfg.custom_imports = dict(
            imports=['slim_plugins'], allow_failed_imports=False)
    out_indices = list(kwargs.get('out_indices', (3, )))
    rewrites = rewrite_in_channels(
        cfg.model, [backbone.channels.out[i] for i in out_indices],
        [narrow.channels.out[i] for i in out_indices])
    for line in rewrites:
        print(f'  {line}')
    config_path = osp.join(args.out_dir, f'narrow_resnet_{tag}.py')
    cfg.dump(config_path)
    print(f'  {config_path}\n  {pth}')

    mmpretrain_cfg = narrow.mmpretrain_config()
    if mmpretrain_cfg is None:
        print('  not expressible as mmpretrain ResNet(base_channels=...): '
              f'channels {narrow.channels}; use the NarrowResNet files.')
        return
    mmpretrain_cfg = to_plain(mmpretrain_cfg)
    mm_path = osp.join(args.out_dir, f'resnet_{tag}_mmpretrain.pth')
    torch.save(
        {
            'state_dict': state_dict,
            'meta': dict(meta, mmpretrain_backbone=mmpretrain_cfg)
        }, mm_path)
    print(f'  {mm_path}\n  loads into mmpretrain backbone={mmpretrain_cfg}')


if __name__ == '__main__':
    main()
