# Copyright (c) slim_plugins contributors. All rights reserved.
"""The main job behind ``make demo``, on the real Fashion-MNIST.

Seven jobs, each a chain of the standard tools run as subprocesses:

* ``us3l`` (default, ``make demo``): US3L pretraining of a universally
  slimmable ResNet-18 (``tools/train.py``); the per-width switchable linear
  probe, whose BN statistics are calibrated per width before training
  (``tools/train.py`` + ``tools/test.py``, one top-1 per width); then a
  table of width, MACs, active parameters and top-1 and a PNG of top-1
  against MACs (``tools/analysis_tools/plot_tradeoff.py``).
* ``simclr`` (``make demo-simclr``, the plumbing check): plain SimCLR
  ResNet-18 pretraining, then the same linear probe on the pretrained and
  on a randomly initialised backbone, printing both test top-1 values.
* ``emp`` (``make demo-emp``): one epoch of EMP-SSL, evaluated with the
  bag-of-features protocol (linear probe: last epoch, and the best epoch in
  its own labelled column; kNN), against plain mmpretrain SimCLR trained
  for the same wall-clock time (its iterations set from a short timing run)
  and evaluated with its linear probe; table and PNG (``emp_demo.{md,png}``).
* ``emp-slim`` (``make demo-emp-slim``): one epoch of slimmable EMP-SSL,
  bag-of-features per width; per-width table and PNG.
* ``mvmr`` (``make demo-mvmr``): MV-MR with the paper's sign of the
  hand-crafted terms (1 - dCor) and with the original code's (+dCor), over
  ``--seeds`` seeds each; the linear probe (last epoch) and the same probe
  with flip test-time augmentation; table and PNG (``mvmr_demo.{md,png}``).
* ``mvmr-slim`` (``make demo-mvmr-slim``): slimmable MV-MR, the per-width
  probe, trade-off table and plot as ``us3l``.
* ``gated`` (``make demo-gated``): Unification (VICReg-Dual, MACs target
  0.3) for one epoch; kNN (k 1 and 20) and a linear probe on each path, the
  gated path's achieved MACs, the export without never-used channels;
  table and PNG (``gated_demo.{md,png}``).

Example:
    python tools/run_demo.py us3l --work-dir work_dirs/demo_us3l
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SIMCLR_CFG = 'configs/simclr/simclr_resnet18_1xb64-coslr-1e_fashion-mnist.py'
SIMCLR_PROBE_CFG = ('configs/simclr/benchmarks/'
                    'resnet18_linear-1xb128-coslr-1e_fashion-mnist.py')
US3L_CFG = ('configs/us3l/'
            'us3l-simclr_slim-resnet18_1xb64-coslr-1e_fashion-mnist.py')
US3L_PROBE_CFG = ('configs/us3l/benchmarks/slim-resnet18-c32_'
                  'switchable-linear-1xb128-coslr-1e_fashion-mnist.py')
EMP_CFG = 'configs/emp_ssl/empssl_resnet18_1xb32-coslr-1e_fashion-mnist.py'
EMP_BOF_CFG = ('configs/emp_ssl/benchmarks/'
               'resnet18_bag-of-features-16p_fashion-mnist.py')
SLIM_EMP_CFG = ('configs/emp_ssl/'
                'slim-empssl_slim-resnet18_1xb32-coslr-1e_fashion-mnist.py')
SLIM_EMP_BOF_CFG = ('configs/emp_ssl/benchmarks/'
                    'slim-resnet18_bag-of-features-16p_fashion-mnist.py')
GATED_CFG = ('configs/unification/'
             'dual-vicreg-t0.3_gated-resnet18_1xb64-coslr-1e_fashion-mnist.py')
GATED_KNN_CFG = ('configs/unification/benchmarks/'
                 'gated-resnet18_knn_fashion-mnist.py')
GATED_PROBE_CFG = ('configs/unification/benchmarks/'
                   'gated-resnet18_linear-1xb128-coslr-1e_fashion-mnist.py')
MVMR_CFG = 'configs/mv_mr/mvmr_resnet18_1xb64-adam-coslr-1e_fashion-mnist.py'
MVMR_CODE_SIGN_CFG = ('configs/mv_mr/mvmr-code-sign_resnet18_1xb64-adam-'
                      'coslr-1e_fashion-mnist.py')
MVMR_PROBE_CFG = ('configs/mv_mr/benchmarks/'
                  'resnet18_linear-1xb128-coslr-1e_fashion-mnist.py')
SLIM_MVMR_CFG = ('configs/mv_mr/slim-mvmr_slim-resnet18_1xb64-adam-coslr-'
                 '1e_fashion-mnist.py')
SLIM_MVMR_PROBE_CFG = ('configs/mv_mr/benchmarks/slim-resnet18_switchable-'
                       'linear-1xb128-coslr-1e_fashion-mnist.py')
PATHS = ('dense', 'gated')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Iterations of the SimCLR timing run that sets its wall-clock budget.
TIMING_ITERS = 30
FASHION_TRAIN_IMAGES = 60000


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


def slim_pretrain_and_probe(args: argparse.Namespace,
                            seconds: Dict[str, float], name: str,
                            config: str, probe_config: str,
                            label: str) -> dict:
    """Slimmable pretraining, the per-width probe, trade-off table and
    plot; returns the table's JSON."""
    pretrain_dir = osp.join(args.work_dir, name)
    seconds['pretrain'] = run(f'{label} pretraining (slimmable ResNet-18)', [
        sys.executable, 'tools/train.py', config, '--work-dir',
        pretrain_dir, '--cfg-options',
        *data_options(args.data_root, config),
        *subset_option(args.train_images)
    ])
    log_dir = train_and_test(
        args.work_dir, 'linear_per_width', probe_config,
        'model.backbone.init_cfg.checkpoint=' + last_checkpoint(pretrain_dir),
        data_options(args.data_root, probe_config), seconds)
    out_dir = osp.join(args.work_dir, 'tradeoff')
    seconds['table'] = run('trade-off table and plot', [
        sys.executable, 'tools/analysis_tools/plot_tradeoff.py',
        osp.join(log_dir, 'multi_width_test.json'), '--config',
        probe_config, '--input-shape', '1', '28', '28', '--labels',
        f'{label} (one run)', '--out-dir', out_dir
    ])
    print(f'\ntable: {out_dir}/tradeoff.md, plot: {out_dir}/tradeoff.png')
    with open(osp.join(ROOT, out_dir, 'tradeoff.json')) as f:
        return dict(tradeoff=json.load(f))


def us3l_job(args: argparse.Namespace, seconds: Dict[str, float]) -> dict:
    """US3L pretraining, per-width probe, trade-off table and plot."""
    return slim_pretrain_and_probe(args, seconds, 'us3l', US3L_CFG,
                                   US3L_PROBE_CFG, 'US3L')


def mvmr_slim_job(args: argparse.Namespace,
                  seconds: Dict[str, float]) -> dict:
    """Slimmable MV-MR, per-width probe, trade-off table and plot."""
    return slim_pretrain_and_probe(args, seconds, 'slim_mvmr', SLIM_MVMR_CFG,
                                   SLIM_MVMR_PROBE_CFG, 'slimmable MV-MR')


def probe_with_and_without_tta(args: argparse.Namespace, name: str,
                               checkpoint: str,
                               seconds: Dict[str, float]) -> Tuple[float,
                                                                   float]:
    """The MV-MR linear probe of ``checkpoint``: test top-1 of its last
    epoch, plain and with flip test-time augmentation."""
    data = data_options(args.data_root, MVMR_PROBE_CFG)
    train_and_test(args.work_dir, name, MVMR_PROBE_CFG,
                   f'model.backbone.init_cfg.checkpoint={checkpoint}', data,
                   seconds)
    probe_dir = osp.join(args.work_dir, name)
    tta_file = osp.join(probe_dir, 'tta_metrics.json')
    seconds[name] += run(f'{name}: test with flip TTA', [
        sys.executable, 'tools/test.py', MVMR_PROBE_CFG,
        last_checkpoint(probe_dir), '--work-dir', probe_dir, '--tta',
        '--out', tta_file, '--out-item', 'metrics', '--cfg-options',
        'model.module.backbone.init_cfg=None', *data
    ])
    top1 = []
    for path in ('test_metrics.json', 'tta_metrics.json'):
        with open(osp.join(ROOT, probe_dir, path)) as f:
            top1.append(float(json.load(f)['accuracy/top1']))
    return top1[0], top1[1]


def mean_std(values: List[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def mvmr_job(args: argparse.Namespace, seconds: Dict[str, float]) -> dict:
    """MV-MR with either sign of the hand-crafted terms, several seeds;
    linear probe with and without flip TTA."""
    signs = (('paper: 1 - dCor (maximise)', 'paper', MVMR_CFG),
             ('code: +dCor (minimise)', 'code', MVMR_CODE_SIGN_CFG))
    results: Dict[str, List[dict]] = {key: [] for _, key, _ in signs}
    for seed in range(args.seeds):
        for label, key, config in signs:
            name = f'{key}_seed{seed}'
            result_file = osp.join(ROOT, args.work_dir, name, 'result.json')
            if osp.isfile(result_file):
                print(f'==> {name}: reusing {result_file}')
                with open(result_file) as f:
                    results[key].append(json.load(f))
                continue
            pretrain_dir = osp.join(args.work_dir, name, 'pretrain')
            # One epoch: a checkpoint exists only once pretraining finished.
            if osp.isfile(osp.join(ROOT, pretrain_dir, 'last_checkpoint')):
                print(f'==> {name}: reusing the finished pretraining')
            else:
                seconds[f'{name} pretrain'] = run(
                    f'MV-MR pretraining, sign {label}, seed {seed}', [
                        sys.executable, 'tools/train.py', config,
                        '--work-dir', pretrain_dir, '--cfg-options',
                        *data_options(args.data_root, config),
                        *subset_option(args.train_images),
                        f'randomness.seed={seed}'
                    ])
            linear, tta = probe_with_and_without_tta(
                args, osp.join(name, 'linear'),
                last_checkpoint(pretrain_dir), seconds)
            per_iter, iters = logged_iterations(pretrain_dir)
            result = dict(seed=seed, linear=linear, linear_flip_tta=tta,
                          pretrain_seconds=per_iter * iters)
            with open(result_file, 'w') as f:
                json.dump(result, f, indent=2)
            results[key].append(result)
    lines = [
        '| sign of the hand-crafted terms | seeds | linear probe, last '
        'epoch (mean +- std) | with flip TTA | per seed (linear / TTA) |',
        '|---|---|---|---|---|'
    ]
    means, stds = [], []
    for label, key, _ in signs:
        runs = results[key]
        linear = mean_std([r['linear'] for r in runs])
        tta = mean_std([r['linear_flip_tta'] for r in runs])
        means.append(linear[0])
        stds.append(linear[1])
        per_seed = ', '.join(f'{r["linear"]:.2f} / {r["linear_flip_tta"]:.2f}'
                             for r in runs)
        lines.append(f'| {label} | {len(runs)} | {linear[0]:.2f} +- '
                     f'{linear[1]:.2f} | {tta[0]:.2f} +- {tta[1]:.2f} | '
                     f'{per_seed} |')
    table = '\n'.join(lines)
    out = osp.join(ROOT, args.work_dir, 'mvmr_demo')
    with open(out + '.md', 'w') as f:
        f.write(table + '\n')
    bar_plot(out + '.png', [label for label, _, _ in signs], means,
             f'MV-MR on Fashion-MNIST, {args.seeds} seed(s): linear probe '
             'top-1 (%)', errors=stds)
    print('\n' + table + f'\n\ntable {out}.md, plot {out}.png')
    return dict(results=results, table=table)


def logged_iterations(work_dir: str) -> Tuple[float, int]:
    """Median seconds per iteration and the last iteration of the newest
    training run in ``work_dir``, from its scalar log."""
    paths = sorted(
        glob.glob(osp.join(ROOT, work_dir, '2*', 'vis_data', 'scalars.json')))
    if not paths:
        sys.exit(f'error: no scalar log (2*/vis_data/scalars.json) in '
                 f'{work_dir}.')
    path = paths[-1]
    with open(path) as f:
        records = [json.loads(line) for line in f if '"time"' in line]
    times = sorted(r['time'] for r in records)
    if not times:
        sys.exit(f'error: {path} logged no iteration times.')
    return times[len(times) // 2], max(r['step'] for r in records)


def bag_of_features(name: str, config: str, checkpoint: str,
                    args: argparse.Namespace, out: str,
                    seconds: Dict[str, float]) -> dict:
    """``tools/test.py`` of a bag-of-features config; its metrics."""
    data = [
        f'test_dataloader.dataset.data_root={args.data_root}',
        f'test_cfg.train_dataloader.dataset.data_root={args.data_root}',
        f'test_cfg.train_dataloader.dataset.indices={args.probe_images}'
    ]
    seconds[name] = run(name, [
        sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
        osp.dirname(out), '--out', out, '--out-item', 'metrics',
        '--cfg-options', *data
    ])
    with open(osp.join(ROOT, out)) as f:
        return json.load(f)


def subset_option(images: int) -> List[str]:
    return [f'train_dataloader.dataset.indices={images}'] if images else []


def emp_job(args: argparse.Namespace, seconds: Dict[str, float]) -> dict:
    """EMP-SSL for one epoch vs SimCLR for the same wall-clock time."""
    emp_dir = osp.join(args.work_dir, 'empssl')
    bof_file = osp.join(args.work_dir, 'empssl_bof', 'metrics.json')
    if args.reuse and osp.isfile(osp.join(ROOT, bof_file)):
        print(f'==> EMP-SSL: reusing {bof_file} (--reuse)')
        with open(osp.join(ROOT, bof_file)) as f:
            bof = json.load(f)
    else:
        seconds['empssl pretrain'] = run('EMP-SSL pretraining, one epoch', [
            sys.executable, 'tools/train.py', EMP_CFG, '--work-dir',
            emp_dir, '--cfg-options', *data_options(args.data_root,
                                                    EMP_CFG),
            *subset_option(args.train_images)
        ])
        bof = bag_of_features('EMP-SSL bag-of-features', EMP_BOF_CFG,
                              last_checkpoint(emp_dir), args, bof_file,
                              seconds)
    emp_iter, emp_iters = logged_iterations(emp_dir)
    emp_seconds = emp_iter * emp_iters

    # SimCLR's iterations for the same wall-clock: a short timing run
    # measures its seconds per iteration on this machine.
    timing_dir = osp.join(args.work_dir, 'simclr_timing')
    batch = 64  # the SimCLR config's batch
    seconds['simclr timing'] = run('SimCLR timing run', [
        sys.executable, 'tools/train.py', SIMCLR_CFG, '--work-dir',
        timing_dir, '--cfg-options',
        *data_options(args.data_root, SIMCLR_CFG),
        f'train_dataloader.dataset.indices={TIMING_ITERS * batch}',
        'default_hooks.logger.interval=1'
    ])
    per_iter, _ = logged_iterations(timing_dir)
    simclr_iters = max(1, int(emp_seconds / per_iter))
    # More iterations than one epoch of the data: more epochs (the cosine
    # stretched with them), each on at most the whole training set.
    epochs = math.ceil(simclr_iters * batch / FASHION_TRAIN_IMAGES)
    per_epoch = math.ceil(simclr_iters / epochs) * batch
    simclr_dir = osp.join(args.work_dir, 'simclr')
    seconds['simclr pretrain'] = run(
        f'SimCLR pretraining for the same wall-clock ({simclr_iters} '
        f'iterations, {epochs} epoch(s))', [
            sys.executable, 'tools/train.py', SIMCLR_CFG, '--work-dir',
            simclr_dir, '--cfg-options',
            *data_options(args.data_root, SIMCLR_CFG),
            f'train_dataloader.dataset.indices={per_epoch}',
            f'train_cfg.max_epochs={epochs}',
            f'param_scheduler.1.T_max={epochs}',
            f'param_scheduler.1.end={epochs}'
        ])
    probe_dir = osp.join(args.work_dir, 'simclr_linear')
    train_and_test(
        args.work_dir, 'simclr_linear', SIMCLR_PROBE_CFG,
        'model.backbone.init_cfg.checkpoint=' + last_checkpoint(simclr_dir),
        data_options(args.data_root, SIMCLR_PROBE_CFG), seconds)
    with open(osp.join(ROOT, probe_dir, 'test_metrics.json')) as f:
        simclr_top1 = float(json.load(f)['accuracy/top1'])

    rows = [
        ('EMP-SSL, 1 epoch', f'{emp_seconds:.0f}',
         f'{bof["accuracy/top1"]:.2f}',
         f'{bof["bof/probe_top1_best_epoch"]:.2f}',
         f'{bof["bof/knn_top1"]:.2f}'),
        (f'SimCLR, same wall-clock ({simclr_iters} it.)',
         f'{logged_iterations(simclr_dir)[0] * simclr_iters:.0f}',
         f'{simclr_top1:.2f}', '-', '-'),
    ]
    lines = [
        '| method | pre-training (s, iterations x median s/it) | '
        'linear probe, last epoch | '
        'best epoch (test-selected) | kNN k=20 |', '|---|---|---|---|---|'
    ] + ['| ' + ' | '.join(row) + ' |' for row in rows]
    table = '\n'.join(lines)
    out = osp.join(ROOT, args.work_dir, 'emp_demo')
    with open(out + '.md', 'w') as f:
        f.write(table + '\n')
    bar_plot(out + '.png', [r[0] for r in rows],
             [float(bof['accuracy/top1']), simclr_top1],
             'Fashion-MNIST test top-1 (%), same pre-training wall-clock')
    print('\n' + table + f'\n\ntable {out}.md, plot {out}.png')
    return dict(empssl=bof, simclr_top1=simclr_top1,
                simclr_iters=simclr_iters, table=table)


def emp_slim_job(args: argparse.Namespace,
                 seconds: Dict[str, float]) -> dict:
    """Slimmable EMP-SSL for one epoch; bag-of-features at every width."""
    emp_dir = osp.join(args.work_dir, 'slim_empssl')
    seconds['slim empssl pretrain'] = run(
        'slimmable EMP-SSL pretraining, one epoch', [
            sys.executable, 'tools/train.py', SLIM_EMP_CFG, '--work-dir',
            emp_dir, '--cfg-options',
            *data_options(args.data_root, SLIM_EMP_CFG),
            *subset_option(args.train_images)
        ])
    bof = bag_of_features(
        'slimmable EMP-SSL bag-of-features per width', SLIM_EMP_BOF_CFG,
        last_checkpoint(emp_dir), args,
        osp.join(args.work_dir, 'slim_empssl_bof', 'metrics.json'), seconds)
    widths = sorted({float(k.split('@w')[1]) for k in bof if '@w' in k},
                    reverse=True)
    lines = [
        '| width | linear probe, last epoch | best epoch (test-selected) | '
        'kNN k=20 |', '|---|---|---|---|'
    ] + [
        f'| {w:g} | {bof[f"accuracy/top1@w{w:g}"]:.2f} | '
        f'{bof[f"bof/probe_top1_best_epoch@w{w:g}"]:.2f} | '
        f'{bof[f"bof/knn_top1@w{w:g}"]:.2f} |' for w in widths
    ]
    table = '\n'.join(lines)
    out = osp.join(ROOT, args.work_dir, 'slim_emp_demo')
    with open(out + '.md', 'w') as f:
        f.write(table + '\n')
    bar_plot(out + '.png', [f'w={w:g}' for w in widths],
             [bof[f'accuracy/top1@w{w:g}'] for w in widths],
             'Slimmable EMP-SSL, 1 epoch: bag-of-features top-1 (%)')
    print('\n' + table + f'\n\ntable {out}.md, plot {out}.png')
    return dict(metrics=bof, table=table)


def gated_job(args: argparse.Namespace, seconds: Dict[str, float]) -> dict:
    """Unification for one epoch; kNN and linear probe on each path."""
    pretrain_dir = osp.join(args.work_dir, 'dual_vicreg')
    seconds['pretrain'] = run('Unification (VICReg-Dual) pretraining', [
        sys.executable, 'tools/train.py', GATED_CFG, '--work-dir',
        pretrain_dir, '--cfg-options',
        *data_options(args.data_root, GATED_CFG),
        *subset_option(args.train_images)
    ])
    checkpoint = last_checkpoint(pretrain_dir)
    knn_data = [
        f'test_dataloader.dataset.data_root={args.data_root}',
        f'test_evaluator.0.memory_dataloader.dataset.data_root='
        f'{args.data_root}'
    ]
    rows = {}
    for path in PATHS:
        out = osp.join(args.work_dir, f'knn_{path}', 'metrics.json')
        seconds[f'knn {path}'] = run(f'kNN, {path} path', [
            sys.executable, 'tools/test.py', GATED_KNN_CFG, checkpoint,
            '--work-dir',
            osp.dirname(out), '--out', out, '--out-item', 'metrics',
            '--cfg-options', f'model.backbone.path={path}', *knn_data
        ])
        with open(osp.join(ROOT, out)) as f:
            knn = json.load(f)
        name = f'linear_{path}'
        train_and_test(
            args.work_dir, name, GATED_PROBE_CFG,
            f'model.backbone.init_cfg.checkpoint={checkpoint}',
            data_options(args.data_root, GATED_PROBE_CFG) +
            [f'model.backbone.path={path}'], seconds)
        with open(osp.join(ROOT, args.work_dir, name,
                           'test_metrics.json')) as f:
            probe = json.load(f)
        rows[path] = dict(
            knn_k1=knn['knn/top1_k1'],
            knn_k20=knn['knn/top1_k20'],
            linear=probe['accuracy/top1'],
            macs=probe['macs/gated_macs'] if path == 'gated' else
            probe['macs/dense_macs'],
            macs_percent=probe['macs/gated_macs_percent']
            if path == 'gated' else 100.0)
    export_dir = osp.join(args.work_dir, 'export_gated')
    seconds['export'] = run('export without never-used channels', [
        sys.executable, 'tools/model_converters/export_gated.py',
        GATED_KNN_CFG, checkpoint, '--out-dir', export_dir,
        '--cfg-options', *knn_data,
        f'calib_dataloader.dataset.data_root={args.data_root}'
    ])
    with open(osp.join(ROOT, export_dir, 'export_report.json')) as f:
        export = json.load(f)
    lines = [
        '| path | MACs per image | % of dense | kNN k=1 | kNN k=20 | '
        'linear probe |', '|---|---|---|---|---|---|'
    ] + [
        f'| {path} | {r["macs"] / 1e6:.2f} M | {r["macs_percent"]:.1f} | '
        f'{r["knn_k1"]:.2f} | {r["knn_k20"]:.2f} | {r["linear"]:.2f} |'
        for path, r in rows.items()
    ] + [
        f'| exported (never-used channels removed) | '
        f'{export["exported_macs"] / 1e6:.2f} M | '
        f'{export["exported_macs_percent"]:.1f} | '
        f'{export["knn_exported"]["top1_k1"]:.2f} | '
        f'{export["knn_exported"]["top1_k20"]:.2f} | - |'
    ]
    table = '\n'.join(lines)
    out = osp.join(ROOT, args.work_dir, 'gated_demo')
    with open(out + '.md', 'w') as f:
        f.write(table + '\n')
    bar_plot(out + '.png', [f'{p} ({rows[p]["macs_percent"]:.0f} % MACs)'
                            for p in PATHS],
             [rows[p]['linear'] for p in PATHS],
             'Unification, 1 epoch: linear probe top-1 (%) per path')
    print('\n' + table + f'\n\ntable {out}.md, plot {out}.png')
    return dict(paths=rows, export=export, table=table)


def bar_plot(path: str, labels: List[str], values: List[float],
             title: str, errors: Optional[List[float]] = None) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(labels, values, yerr=errors, capsize=4, color='tab:blue')
    ax.bar_label(bars, fmt='%.2f')
    ax.set_ylabel('test top-1 (%)')
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


JOBS = dict(us3l=us3l_job, simclr=simclr_job, emp=emp_job,
            gated=gated_job, mvmr=mvmr_job, **{
                'emp-slim': emp_slim_job,
                'mvmr-slim': mvmr_slim_job
            })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'job', nargs='?', default='us3l', choices=sorted(JOBS))
    parser.add_argument('--work-dir', default=None,
                        help='defaults to work_dirs/demo_{job}')
    parser.add_argument(
        '--data-root',
        default='data/fashion_mnist',
        help='where Fashion-MNIST is (or will be) laid out')
    parser.add_argument(
        '--train-images', type=int, default=0,
        help='EMP-SSL, gated, MV-MR and us3l jobs: pre-train on the first N '
        'training images (default 0: the whole epoch)')
    parser.add_argument(
        '--seeds', type=int, default=3,
        help='mvmr job: seeds per sign (default 3); finished seeds are '
        'reused')
    parser.add_argument(
        '--reuse', action='store_true',
        help='emp job: reuse the EMP-SSL run and its evaluation already in '
        'the work dir')
    parser.add_argument(
        '--probe-images', type=int, default=10000,
        help='EMP-SSL jobs: training images of the bag-of-features probe '
        'and kNN memory (default 10000; the test split is whole)')
    args = parser.parse_args()
    if args.train_images < 0 or args.probe_images < 1 or args.seeds < 1:
        parser.error('--train-images must be >= 0, --probe-images and '
                     '--seeds >= 1.')
    args.work_dir = args.work_dir or f'work_dirs/demo_{args.job}'
    os.makedirs(osp.join(ROOT, args.work_dir), exist_ok=True)

    seconds: Dict[str, float] = {}
    seconds['data'] = run('prepare Fashion-MNIST', [
        sys.executable, 'tools/data/prepare_fashion_mnist.py', '--out',
        args.data_root
    ])
    result = JOBS[args.job](args, seconds)
    print('seconds per step: ' + ', '.join(f'{k} {v:.0f}'
                                           for k, v in seconds.items()))
    summary = osp.join(ROOT, args.work_dir, 'demo_result.json')
    with open(summary, 'w') as f:
        json.dump(dict(job=args.job, seconds=seconds, **result), f, indent=2)
    print(f'saved {summary}')


if __name__ == '__main__':
    main()
