# Copyright (c) slim_plugins contributors. All rights reserved.
"""Test (evaluate) a checkpoint (same flags as mmpretrain's ``tools/test.py``).

Example:
    python tools/test.py CONFIG CHECKPOINT --work-dir work_dirs/eval
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from tool_utils import (CheckpointLoadError, build_runner,  # noqa: E402
                        check_config_paths, checkpoint_loading,
                        closing_distributed, fail, load_config,
                        report_build_errors, setup_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test (and eval) a model with a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', help='the file to output results.')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='To output whether metrics or predictions. '
        'Defaults to output predictions.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--show-dir',
        help='directory where the visualization images will be saved.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='whether to display the prediction results in a window.')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualize per interval samples.')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='display time of every window. (second)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='Whether to enable the Test-Time-Aug (TTA). If the config file '
        'has `tta_pipeline` and `tta_model` fields, use them to determine the '
        'TTA transforms and how to merge the TTA results. Otherwise, use flip '
        'TTA by averaging classification score.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge CLI arguments into the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            fail('--show/--show-dir need a `visualization` hook in '
                 'default_hooks.')
        hooks.visualization.enable = True
        hooks.visualization.show = args.show
        hooks.visualization.wait_time = args.wait_time
        hooks.visualization.out_dir = args.show_dir
        hooks.visualization.interval = args.interval

    if args.tta:
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            test_pipeline = cfg.test_dataloader.dataset.pipeline
            cfg.tta_pipeline = [
                *test_pipeline[:-1],
                dict(
                    type='TestTimeAug',
                    transforms=[[
                        dict(type='RandomFlip', prob=1.),
                        dict(type='RandomFlip', prob=0.)
                    ], [test_pipeline[-1]]])
            ]
        cfg.model = dict(type=cfg.tta_model.pop('type'), module=cfg.model,
                         **cfg.tta_model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    if args.no_pin_memory and cfg.get('test_dataloader'):
        cfg.test_dataloader.pin_memory = False

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def run_test(cfg: Config, args: argparse.Namespace) -> dict:
    """Build the runner and test; the runner (and the process group its
    model holds) is released on return."""
    with report_build_errors(args.config):
        runner = build_runner(cfg)
    if args.out and args.out_item in ['pred', None]:
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    try:
        return runner.test()
    except CheckpointLoadError as error:
        fail(str(error))


def main() -> None:
    args = parse_args()
    if args.out is None and args.out_item is not None:
        fail('--out-item needs --out to name the output file.')
    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    check_config_paths(cfg)
    if cfg.get('test_dataloader', None) is None:
        fail(f'{args.config} has no test_dataloader / test_evaluator: '
             f'self-supervised pretraining configs cannot be tested; use a '
             f'linear-probe config (configs/*/benchmarks/).')

    setup_cpu_distributed(cfg)
    with closing_distributed(), checkpoint_loading():
        metrics = run_test(cfg, args)

    if args.out and args.out_item == 'metrics':
        import mmengine
        mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
