# Copyright (c) slim_plugins contributors. All rights reserved.
"""The main job behind ``make demo``, on the real Fashion-MNIST.

Two jobs, each a chain of the standard tools run as subprocesses:

* ``us3l`` (default, ``make demo``): US3L pretraining of a universally
  slimmable ResNet-18 (``tools/train.py``); the per-width switchable linear
  probe, whose BN statistics are calibrated per width before training
  (``tools/train.py`` + ``tools/test.py``, one top-1 per width); then a
  table of width, MACs, active parameters and top-1 and a PNG of top-1
  against MACs (``tools/analysis_tools/plot_tradeoff.py``).
* ``simclr`` (``make demo-simclr``, the plumbing check): plain SimCLR
  ResNet-18 pretraining, then the same linear probe on the pretrained and
  on a randomly initialised backbone, printing both test top-1 values.

Example:
    python tools/run_demo.py us3l --work-dir work_dirs/demo_us3l
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SIMCLR_CFG = 'configs/simclr/simclr_resnet18_1xb64-coslr-1e_fashion-mnist.py'
SIMCLR_PROBE_CFG = ('configs/simclr/benchmarks/'
                    'resnet18_linear-1xb128-coslr-1e_fashion-mnist.py')
US3L_CFG = ('configs/us3l/'
            'us3l-simclr_slim-resnet18_1xb64-coslr-1e_fashion-mnist.py')
US3L_PROBE_CFG = ('configs/us3l/benchmarks/slim-resnet18-c32_'
                  'switchable-linear-1xb128-coslr-1e_fashion-mnist.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def run(step: str, cmd: List[str]) -> float:
    """Run one step as a subprocess in the repo root; return its seconds."""
    print(f'\n==> {step}\n    $ {" ".join(cmd)}', flush=True)
    start = time.time()
    # Unbuffered, so that training progress shows up as it happens.
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f'error: demo step "{step}" failed with exit code '
                 f'{result.returncode}; its log is above.')
    return time.time() - start


def last_checkpoint(work_dir: str) -> str:
    """Path of the checkpoint that the CheckpointHook saved last."""
    with open(osp.join(ROOT, work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def data_options(data_root: str, config: str) -> List[str]:
    """``--cfg-options`` pointing every dataloader of ``config`` at data."""
    loaders = LOADERS if 'benchmarks' in config else LOADERS[:1]
    return [f'{loader}.dataset.data_root={data_root}' for loader in loaders]


def train_and_test(work_dir: str, name: str, config: str, init: str,
                   data: List[str], seconds: Dict[str, float]) -> str:
    """Train ``config`` with backbone init option ``init``, then test its
    last checkpoint; return the log dir of the test run."""
    probe_dir = osp.join(work_dir, name)
    seconds[name] = run(f'{name}: train', [
        sys.executable, 'tools/train.py', config, '--work-dir', probe_dir,
        '--cfg-options', init, *data
    ])
    metrics_file = osp.join(probe_dir, 'test_metrics.json')
    before = set(glob.glob(osp.join(ROOT, probe_dir, '2*')))
    seconds[name] += run(f'{name}: test', [
        sys.executable, 'tools/test.py', config,
        last_checkpoint(probe_dir), '--work-dir', probe_dir, '--out',
        metrics_file, '--out-item', 'metrics', '--cfg-options',
        'model.backbone.init_cfg=None', *data
    ])
    (log_dir, ) = set(glob.glob(osp.join(ROOT, probe_dir, '2*'))) - before
    return log_dir


def simclr_job(args: argparse.Namespace, seconds: Dict[str, float]) -> dict:
    """Plain SimCLR, then the probe on pretrained and random backbones."""
    pretrain_dir = osp.join(args.work_dir, 'simclr')
    seconds['pretrain'] = run('SimCLR pretraining', [
        sys.executable, 'tools/train.py', SIMCLR_CFG, '--work-dir',
        pretrain_dir, '--cfg-options',
        *data_options(args.data_root, SIMCLR_CFG)
    ])
    probe_data = data_options(args.data_root, SIMCLR_PROBE_CFG)
    top1 = {}
    for name, init in (('pretrained', 'model.backbone.init_cfg.checkpoint=' +
                        last_checkpoint(pretrain_dir)),
                       ('random', 'model.backbone.init_cfg=None')):
        probe_dir = osp.join(args.work_dir, f'linear_{name}')
        train_and_test(args.work_dir, f'linear_{name}', SIMCLR_PROBE_CFG,
                       init, probe_data, seconds)
        with open(osp.join(ROOT, probe_dir, 'test_metrics.json')) as f:
            top1[name] = float(json.load(f)['accuracy/top1'])
    print('\n'.join([
        '', 'Fashion-MNIST linear probe (frozen ResNet-18), test top-1:',
        f'  SimCLR-pretrained backbone : {top1["pretrained"]:6.2f} %',
        f'  randomly initialised       : {top1["random"]:6.2f} %'
    ]))
    return dict(top1_pretrained=top1['pretrained'],
                top1_random=top1['random'])


def us3l_job(args: argparse.Namespace, seconds: Dict[str, float]) -> dict:
    """US3L pretraining, per-width probe, trade-off table and plot."""
    pretrain_dir = osp.join(args.work_dir, 'us3l')
    seconds['pretrain'] = run('US3L pretraining (slimmable ResNet-18)', [
        sys.executable, 'tools/train.py', US3L_CFG, '--work-dir',
        pretrain_dir, '--cfg-options',
        *data_options(args.data_root, US3L_CFG)
    ])
    log_dir = train_and_test(
        args.work_dir, 'linear_per_width', US3L_PROBE_CFG,
        'model.backbone.init_cfg.checkpoint=' + last_checkpoint(pretrain_dir),
        data_options(args.data_root, US3L_PROBE_CFG), seconds)
    out_dir = osp.join(args.work_dir, 'tradeoff')
    seconds['table'] = run('trade-off table and plot', [
        sys.executable, 'tools/analysis_tools/plot_tradeoff.py',
        osp.join(log_dir, 'multi_width_test.json'), '--config',
        US3L_PROBE_CFG, '--input-shape', '1', '28', '28', '--labels',
        'US3L (one run)', '--out-dir', out_dir
    ])
    print(f'\ntable: {out_dir}/tradeoff.md, plot: {out_dir}/tradeoff.png')
    with open(osp.join(ROOT, out_dir, 'tradeoff.json')) as f:
        return dict(tradeoff=json.load(f))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'job', nargs='?', default='us3l', choices=['us3l', 'simclr'])
    parser.add_argument('--work-dir', default=None,
                        help='defaults to work_dirs/demo_{job}')
    parser.add_argument(
        '--data-root',
        default='data/fashion_mnist',
        help='where Fashion-MNIST is (or will be) laid out')
    args = parser.parse_args()
    args.work_dir = args.work_dir or f'work_dirs/demo_{args.job}'
    os.makedirs(osp.join(ROOT, args.work_dir), exist_ok=True)

    seconds: Dict[str, float] = {}
    seconds['data'] = run('prepare Fashion-MNIST', [
        sys.executable, 'tools/data/prepare_fashion_mnist.py', '--out',
        args.data_root
    ])
    job = us3l_job if args.job == 'us3l' else simclr_job
    result = job(args, seconds)
    print('seconds per step: ' + ', '.join(f'{k} {v:.0f}'
                                           for k, v in seconds.items()))
    summary = osp.join(ROOT, args.work_dir, 'demo_result.json')
    with open(summary, 'w') as f:
        json.dump(dict(job=args.job, seconds=seconds, **result), f, indent=2)
    print(f'saved {summary}')


if __name__ == '__main__':
    main()
