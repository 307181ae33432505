# Copyright (c) slim_plugins contributors. All rights reserved.
"""Calibrate the BN statistics of each width of a checkpoint and save it.

A universally slimmable backbone shares one BN per layer across widths, so
its running statistics fit no single width. This tool builds the model of
CONFIG, loads CHECKPOINT strictly, re-estimates the BN statistics of every
``--widths`` entry on the config's train dataloader (or ``--split``), stores
them in the backbone's calibration bank and writes a checkpoint that
``tools/test.py`` and ``MultiWidthTestLoop`` evaluate at those widths without
calibrating again.

Example::

    python tools/calibrate_bn.py CONFIG CHECKPOINT \\
        --widths 1.0 0.75 0.5 0.25 --num-batches 20 --out calibrated.pth
"""
import argparse
import copy
import os
import os.path as osp
import sys
from typing import List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from tool_utils import (check_config_paths, fail, first_batches,  # noqa: E402
                        load_config)

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Calibrate the BN statistics of each width of a '
        'slimmable checkpoint.')
    parser.add_argument('config', help='config of the model')
    parser.add_argument('checkpoint', help='checkpoint to calibrate')
    parser.add_argument('--widths', type=float, nargs='+', default=None,
                        help='widths to calibrate (default: test_cfg.widths '
                        'of the config)')
    parser.add_argument('--num-batches', type=int, default=20,
                        help='batches per width (default 20)')
    parser.add_argument('--mode', choices=['cumulative', 'ema'],
                        default='cumulative',
                        help='exact average over the batches, or an '
                        'exponential moving average (US3L)')
    parser.add_argument('--ema-momentum', type=float, default=0.1,
                        help='momentum of --mode ema (default 0.1)')
    parser.add_argument('--split', choices=SPLITS, default='train',
                        help='dataloader of the config to calibrate on '
                        '(default train)')
    parser.add_argument('--module', default='backbone',
                        help='attribute of the model to calibrate '
                        '(default backbone)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the dataloader (default 0)')
    parser.add_argument('--device', default='cpu',
                        help='device to calibrate on, e.g. cuda:0')
    parser.add_argument('--out', required=True,
                        help='file of the calibrated checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def _track_running_stats(model_cfg: dict, module: str) -> bool:
    """Build ``model.<module>`` with running statistics; return whether the
    config had them off (a checkpoint of it then has none to load)."""
    part = model_cfg.get(module)
    if isinstance(part, dict) and part.get('track_running_stats') is False:
        part['track_running_stats'] = True
        print(f'model.{module} was trained with track_running_stats=False '
              '(batch statistics only); calibrating a copy built with '
              'running statistics.')
        return True
    return False


def load_checkpoint_strict(model: torch.nn.Module,
                           path: str,
                           allow_missing_stats: bool = False) -> dict:
    """Load ``path`` into ``model`` strictly; fail listing mismatched keys.

    Args:
        model (nn.Module): The model.
        path (str): The checkpoint.
        allow_missing_stats (bool): BN running statistics may be absent
            from the checkpoint (trained without them); nothing else.

    Returns:
        dict: The loaded checkpoint.
    """
    from slim_plugins.utils import load_checkpoint_file, load_state_dict_strict
    try:
        checkpoint = load_checkpoint_file(path)
    except (OSError, ValueError) as e:
        fail(str(e))
    if not isinstance(checkpoint, dict):
        fail(f'checkpoint {path!r} holds a {type(checkpoint).__name__}, '
             f'not a state dict.')
    state_dict = checkpoint.get('state_dict', checkpoint)
    state_dict = {
        (key[len('module.'):] if key.startswith('module.') else key): value
        for key, value in state_dict.items()
    }
    if allow_missing_stats:
        stats = ('running_mean', 'running_var', 'num_batches_tracked')
        for key, value in model.state_dict().items():
            if key.endswith(stats) and key not in state_dict:
                state_dict[key] = value
    try:
        load_state_dict_strict(model, state_dict, source=path)
    except ValueError as e:
        fail(f'{e}\nThe checkpoint must come from this config\'s model.')
    return checkpoint


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.num_batches < 1:
        fail(f'--num-batches {args.num_batches}: calibrate on at least one '
             f'batch.')
    if not osp.isfile(args.checkpoint):
        fail(f'checkpoint {args.checkpoint!r} does not exist.')
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader_key = f'{args.split}_dataloader'
    loader_cfg = cfg.get(loader_key, None)
    if not loader_cfg:
        fail(f'{args.config} has no {loader_key}; choose another --split.')
    check_config_paths(Config({loader_key: loader_cfg}))
    widths = args.widths
    if widths is None:
        widths = cfg.get('test_cfg', {}).get('widths')
        if not widths:
            fail('give the widths to calibrate with --widths (the config has '
                 'no test_cfg.widths).')

    import slim_plugins  # noqa: F401  (registers modules, checkpoint globals)
    from slim_plugins.engine.hooks.bn_calibration_hook import \
        calibration_forward
    from slim_plugins.ops import using_width
    from slim_plugins.registry import MODELS
    from slim_plugins.utils.bn_calibration import calibrate_bn, get_bank

    init_default_scope(cfg.get('default_scope', 'slim_plugins'))
    model_cfg = copy.deepcopy(cfg.model)
    untracked = _track_running_stats(model_cfg, args.module)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    target = getattr(model, args.module, None)
    if target is None:
        fail(f'--module {args.module!r}: the model {type(model).__name__} '
             f'has no such attribute.')
    for width in widths:
        try:
            with using_width(target, width):
                pass
        except (TypeError, ValueError) as e:
            fail(f'--widths: {e}')
    # The bank must exist before loading, to take a checkpoint's widths.
    get_bank(target, create=True)
    checkpoint = load_checkpoint_strict(
        model, args.checkpoint, allow_missing_stats=untracked)
    model.to(args.device).eval()

    loader = Runner.build_dataloader(copy.deepcopy(loader_cfg),
                                     seed=args.seed)
    num_batches = args.num_batches
    if len(loader) < num_batches:
        fail(f'--num-batches {num_batches}: the {args.split} dataloader has '
             f'only {len(loader)} batches; lower --num-batches.')
    forward = calibration_forward(model, target)
    for width in widths:
        calibrate_bn(
            target,
            first_batches(loader, num_batches, f'width {width:g}'),
            forward, [width],
            num_batches,
            mode=args.mode,
            ema_momentum=args.ema_momentum,
            logger=print)

    meta = dict(checkpoint.get('meta') or {})
    if untracked and isinstance(meta.get('cfg'), str):
        # The file now holds running statistics: its config says so, so the
        # converters and tools/test.py build the matching architecture.
        stored = Config.fromstring(meta['cfg'], file_format='.py')
        stored.model[args.module]['track_running_stats'] = True
        meta['cfg'] = stored.pretty_text
    meta['bn_calibration'] = dict(
        widths=[float(w) for w in widths],
        num_batches=num_batches,
        mode=args.mode,
        split=args.split,
        module=args.module,
        source=osp.abspath(args.checkpoint))
    state_dict = {k: v.cpu() for k, v in model.state_dict().items()}
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), args.out)
    print(f'saved {args.out}: BN statistics of widths '
          f'{", ".join(f"{w:g}" for w in widths)} in '
          f'{args.module}.bn_calibration.')


if __name__ == '__main__':
    main()
