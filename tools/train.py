# Copyright (c) slim_plugins contributors. All rights reserved.
"""Train a model from a config (same flags as mmpretrain's ``tools/train.py``).

Example:
    python tools/train.py \
        configs/simclr/simclr_resnet18_1xb64-coslr-1e_fashion-mnist.py
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from tool_utils import (CheckpointLoadError, build_runner,  # noqa: E402
                        check_config_paths, check_train_batches,
                        checkpoint_loading, closing_distributed, fail,
                        load_config, report_build_errors,
                        setup_cpu_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='Not suggested: disable validation during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in '
        'dataloaders.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local_rank, torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Merge CLI arguments into the config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher

    # work_dir: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(
                f'--amp needs an OptimWrapper or AmpOptimWrapper, but the '
                f'config uses {optim_wrapper!r}; set AMP in the config.')
        import torch
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:  # bfloat16 autocast, no loss scaling (see CPUAmpOptimWrapper)
            cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    def set_default_dataloader_cfg(cfg: Config, field: str) -> None:
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = cfg[field]
        dataloader_cfg.setdefault('pin_memory', not args.no_pin_memory)
        dataloader_cfg.setdefault(
            'persistent_workers',
            not args.no_persistent_workers
            and dataloader_cfg.get('num_workers', 0) > 0)
        if args.no_pin_memory:
            dataloader_cfg.pin_memory = False
        if args.no_persistent_workers:
            dataloader_cfg.persistent_workers = False

    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_default_dataloader_cfg(cfg, field)

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def run_training(cfg: Config, config_path: str) -> None:
    """Build the runner and train; the runner (and the process group its
    model holds) is released on return."""
    with report_build_errors(config_path):
        runner = build_runner(cfg)
    check_train_batches(runner)
    try:
        runner.train()
    except CheckpointLoadError as error:
        fail(str(error))


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    cfg = merge_args(cfg, args)
    check_config_paths(cfg, resume=cfg.get('resume', False))
    if args.resume == 'auto':
        from mmengine.runner import find_latest_checkpoint
        if find_latest_checkpoint(cfg.work_dir) is None:
            print(f'tools/train.py: --resume found no checkpoint in '
                  f'{cfg.work_dir} (no last_checkpoint file there); training '
                  'starts from the beginning.', file=sys.stderr)
    setup_cpu_distributed(cfg)
    with closing_distributed(), checkpoint_loading():
        run_training(cfg, args.config)


if __name__ == '__main__':
    main()
