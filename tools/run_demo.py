# Copyright (c) slim_plugins contributors. All rights reserved.
"""The main job behind ``make demo``.

Pretrains SimCLR (ResNet-18) on the real Fashion-MNIST with ``tools/train.py``,
then trains and tests the same linear probe (``tools/train.py`` +
``tools/test.py``) twice: on the pretrained backbone and on a randomly
initialised one, and prints both test top-1 values.

Example:
    python tools/run_demo.py --work-dir work_dirs/demo
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CFG = 'configs/simclr/simclr_resnet18_1xb64-coslr-1e_fashion-mnist.py'
PROBE_CFG = ('configs/simclr/benchmarks/'
             'resnet18_linear-1xb128-coslr-3e_fashion-mnist.py')


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
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def probe(work_dir: str, name: str, init_options: List[str],
          seconds: dict) -> float:
    """Train and test the linear probe; return its test top-1."""
    probe_dir = osp.join(work_dir, f'linear_{name}')
    seconds[f'probe ({name})'] = run(
        f'linear probe, {name} backbone: train',
        [sys.executable, 'tools/train.py', PROBE_CFG, '--work-dir', probe_dir,
         '--cfg-options', *init_options])
    metrics_file = osp.join(probe_dir, 'test_metrics.json')
    seconds[f'probe ({name})'] += run(
        f'linear probe, {name} backbone: test', [
            sys.executable, 'tools/test.py', PROBE_CFG,
            last_checkpoint(probe_dir), '--work-dir', probe_dir, '--out',
            metrics_file, '--out-item', 'metrics', '--cfg-options',
            'model.backbone.init_cfg=None'
        ])
    with open(metrics_file) as f:
        return float(json.load(f)['accuracy/top1'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument(
        '--data-root',
        default='data/fashion_mnist',
        help='where Fashion-MNIST is (or will be) laid out')
    args = parser.parse_args()
    os.makedirs(osp.join(ROOT, args.work_dir), exist_ok=True)
    data_option = [
        f'{loader}.dataset.data_root={args.data_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]

    seconds = {}
    seconds['data'] = run('prepare Fashion-MNIST', [
        sys.executable, 'tools/data/prepare_fashion_mnist.py', '--out',
        args.data_root
    ])
    pretrain_dir = osp.join(args.work_dir, 'simclr')
    seconds['pretrain'] = run('SimCLR pretraining', [
        sys.executable, 'tools/train.py', PRETRAIN_CFG, '--work-dir',
        pretrain_dir, '--cfg-options', data_option[0]
    ])
    pretrained = last_checkpoint(pretrain_dir)
    top1_pretrained = probe(
        args.work_dir, 'pretrained',
        [f'model.backbone.init_cfg.checkpoint={pretrained}', *data_option],
        seconds)
    top1_random = probe(args.work_dir, 'random',
                        ['model.backbone.init_cfg=None', *data_option],
                        seconds)

    lines = [
        '', 'Fashion-MNIST linear probe (frozen ResNet-18), test top-1:',
        f'  SimCLR-pretrained backbone : {top1_pretrained:6.2f} %',
        f'  randomly initialised       : {top1_random:6.2f} %',
        'seconds per step: ' + ', '.join(f'{k} {v:.0f}'
                                         for k, v in seconds.items())
    ]
    print('\n'.join(lines))
    summary = osp.join(ROOT, args.work_dir, 'demo_result.json')
    with open(summary, 'w') as f:
        json.dump(
            dict(
                top1_pretrained=top1_pretrained,
                top1_random=top1_random,
                seconds=seconds), f, indent=2)
    print(f'saved {summary}')


if __name__ == '__main__':
    main()
