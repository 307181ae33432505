# Copyright (c) slim_plugins contributors. All rights reserved.
"""Science check: how many batches does BN calibration need?

A universally slimmable backbone pre-trained by US3L has no usable BN
statistics (US3L pre-trains without them), so every width is calibrated
before it is evaluated. This script measures the linear-probe top-1 on
Fashion-MNIST at each width against the calibration budget:

* **cumulative, N batches** (``--batches``, default 1 5 20 50 200): the
  engine's default, ``calibrate_bn(mode='cumulative')``: statistics reset to
  mean 0 / variance 1, then the exact average (``momentum=None``) over the
  first N batches of the probe config's training loader.
* **US3L's recipe** (spec ``us3l_empssl_mvmr.md`` 1.8, CIFAR path):
  ``--ema-epochs`` (default 3) full epochs of the same loader, EMA momentum
  0.1 (``calibrate_bn(mode='ema')``, which does not reset), starting from
  fresh statistics (mean 0 / variance 1), as in the reference, whose
  pre-trained backbone is built anew with tracked statistics.

The calibration data is the linear-eval training loader of ``--config``
(the probe config: its ``train_dataloader``, augmentations included), read
in the same fixed-seed order for every setting, so the N-batch settings are
nested (the 5 batches contain the first one) and the first EMA epoch sees
the same batches. Each calibration is timed (data loading included).

For each width and setting: build the frozen backbone (and the probe
config's neck) from ``--checkpoint``, loaded strictly as the real probe
loads it (``MultiWidthImageClassifier``); calibrate at that width; extract
features (eval mode, ``no_grad``) of ``--train-subset`` fixed-seed training
images and of the full test set; train a linear classifier on the cached
features; report test top-1.

The probe on cached features follows the probe config as far as is cheap:
the head's parameter-free BN (``feature_norm``: batch statistics while
training, running statistics at test, eps 1e-6, momentum 0.1), a linear
layer initialised ``Normal(std=0.01)``, cross-entropy, the config's
optimizer (SGD, lr 0.5, momentum 0.9) with a cosine schedule over the
iterations, the config's batch size. Differences: **no augmentation**
during the probe (features are computed once, without the random flip),
a training subset, **no in-place distillation** between widths (every
setting gets an independent probe, as in ``slim_vs_individual.py``), and by
default as many SGD iterations as the real probe runs on the full training
set (``--probe-epochs`` overrides). The classifier's initialisation and the
order of its batches are the same for every setting of a width.

Output: a table of top-1 (rows: settings, columns: widths, plus the summed
calibration seconds) and of calibration seconds per width; in
``--work-dir``: ``calibration_budget.json``, ``calibration_budget.png``
(top-1 against calibration batches on a log axis, one line per width; the
EMA recipe as a dashed line in the width's colour) and ``bn_stats.pth``
(the calibrated statistics of every width and setting).

Example::

    python benchmarks/calibration_budget.py \\
        --checkpoint work_dirs/demo_us3l/us3l/epoch_1.pth --threads 2
"""
import argparse
import copy
import json
import logging
import math
import os
import os.path as osp
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed
from tqdm import tqdm

from slim_plugins.engine.hooks.bn_calibration_hook import calibration_forward
from slim_plugins.ops import using_width
from slim_plugins.registry import DATASETS, MODELS
from slim_plugins.utils.bn_calibration import (calibrate_bn, get_bank,
                                               needs_calibration)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# benchmarks/ and tools/ are not packages: reach their helpers by path.
sys.path.insert(0, osp.join(ROOT, 'tools'))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from run_demo import US3L_PROBE_CFG  # noqa: E402
from slim_vs_individual import (LOADERS, table, width_key,  # noqa: E402
                                width_label)
from tool_utils import (check_config_paths, fail, first_batches,  # noqa: E402
                        load_config)

DEMO_CHECKPOINT = 'work_dirs/demo_us3l/us3l/epoch_1.pth'
METRIC = 'accuracy/top1'
JSON_NAME = 'calibration_budget.json'
PNG_NAME = 'calibration_budget.png'
STATS_NAME = 'bn_stats.pth'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Linear-probe top-1 per width against the BN '
        'calibration budget (cumulative N batches vs US3L\'s EMA recipe).')
    parser.add_argument(
        '--config', default=US3L_PROBE_CFG,
        help='per-width linear-probe config (its backbone, neck, head, '
        'optimizer and training loader)')
    parser.add_argument(
        '--checkpoint', default=DEMO_CHECKPOINT,
        help='US3L pre-training checkpoint (backbone.* keys; default the '
        'one of `make demo`)')
    parser.add_argument(
        '--widths', type=float, nargs='+', default=[1.0, 0.75, 0.5, 0.25],
        help='widths to calibrate and probe')
    parser.add_argument(
        '--batches', type=int, nargs='+', default=[1, 5, 20, 50, 200],
        help='batch budgets of the cumulative calibration')
    parser.add_argument(
        '--ema-epochs', type=int, default=3,
        help='epochs of the US3L EMA recipe (reference: 3)')
    parser.add_argument(
        '--ema-momentum', type=float, default=0.1,
        help='BN momentum of the EMA recipe (reference: 0.1)')
    parser.add_argument(
        '--train-subset', type=int, default=10000,
        help='training images the probe is trained on (fixed-seed random '
        'subset; 0: all)')
    parser.add_argument(
        '--probe-epochs', type=int, default=None,
        help='epochs of the linear probe on the cached features (default: '
        'as many iterations as the real probe runs on the full training '
        'set)')
    parser.add_argument(
        '--work-dir',
        default=osp.join(ROOT, 'work_dirs', 'calibration_budget'),
        help='folder of the JSON, plot and statistics')
    parser.add_argument(
        '--data-root', default=None,
        help='Fashion-MNIST folder (default: the config\'s)')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch threads (default 1)')
    parser.add_argument(
        '--num-workers', type=int, default=0,
        help='dataloader workers (default 0: load in this process)')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cuda:0')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of --config, key=value')
    args = parser.parse_args(argv)
    if not args.batches or min(args.batches) < 1:
        parser.error(f'--batches {args.batches}: every budget must be at '
                     f'least one batch.')
    if len(set(args.batches)) != len(args.batches):
        parser.error(f'--batches {args.batches} has duplicates; give each '
                     f'budget once.')
    if args.ema_epochs < 1:
        parser.error(f'--ema-epochs {args.ema_epochs}: the EMA recipe needs '
                     f'at least one epoch (the reference uses 3).')
    if not 0.0 < args.ema_momentum <= 1.0:
        parser.error(f'--ema-momentum {args.ema_momentum} must lie in '
                     f'(0, 1] (the reference uses 0.1).')
    if args.train_subset < 0:
        parser.error(f'--train-subset {args.train_subset} must be >= 0 '
                     f'(0: the whole training set).')
    if args.probe_epochs is not None and args.probe_epochs < 1:
        parser.error(f'--probe-epochs {args.probe_epochs} must be >= 1.')
    if args.threads < 1:
        parser.error(f'--threads {args.threads} must be >= 1.')
    if args.num_workers < 0:
        parser.error(f'--num-workers {args.num_workers} must be >= 0.')
    args.batches = sorted(args.batches)
    args.config = (osp.abspath(args.config) if osp.exists(args.config)
                   else osp.join(ROOT, args.config))
    if not osp.isabs(args.checkpoint) and not osp.exists(args.checkpoint):
        args.checkpoint = osp.join(ROOT, args.checkpoint)
    args.work_dir = osp.abspath(args.work_dir)
    return args


# ----------------------------------------------------------------------
# settings
# ----------------------------------------------------------------------
def cumulative_key(num_batches: int) -> str:
    """JSON key of the cumulative setting with ``num_batches``."""
    return f'cumulative_{num_batches}'


def ema_key(epochs: int) -> str:
    """JSON key of the EMA recipe over ``epochs`` epochs."""
    return f'ema_{epochs}ep'


def setting_label(key: str) -> str:
    """A setting for people, e.g. ``cumulative, 20 batches``."""
    kind, amount = key.split('_')
    if kind == 'cumulative':
        return f'cumulative, {amount} batch{"es" if amount != "1" else ""}'
    return f'EMA (US3L), {amount[:-2]} ep'


def check_config(cfg: Config, widths: Sequence[float]) -> List[float]:
    """Check what the script reads from the probe config; sorted widths.

    Args:
        cfg (Config): The merged probe config.
        widths (Sequence[float]): ``--widths``.

    Returns:
        list[float]: The widths, high to low.
    """
    for key in ('train_dataloader', 'test_dataloader', 'optim_wrapper'):
        if not cfg.get(key, None):
            fail(f'{key} is missing from the probe config; --config must be '
                 f'a linear-probe config such as {US3L_PROBE_CFG}.')
    backbone = cfg.model.get('backbone', {})
    if backbone.get('width_mode', 'universal') != 'universal':
        fail(f'the probe config\'s backbone has width_mode='
             f'{backbone.get("width_mode")!r}: switchable BNs keep their '
             f'own statistics per width and need no calibration; use a '
             f'universal (shared-BN) backbone.')
    widths = [float(w) for w in widths]
    if len(set(widths)) != len(widths):
        fail(f'--widths {widths} has duplicates; give each width once.')
    low, high = backbone.get('width_range', (0.0, 1.0))
    bad = [w for w in widths if not low <= w <= high]
    if bad:
        fail(f'--widths {bad} lie outside the backbone\'s width_range '
             f'({low}, {high}) of the probe config; choose widths in that '
             f'range.')
    return sorted(widths, reverse=True)


# ----------------------------------------------------------------------
# model and data
# ----------------------------------------------------------------------
def build_model(cfg: Config, checkpoint: str, device: str) -> nn.Module:
    """The probe's classifier with the pre-trained backbone, strictly.

    The checkpoint's BN statistics (a US3L checkpoint has none) are
    discarded: every calibration starts from mean 0 / variance 1.
    """
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model_cfg.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=checkpoint, prefix='backbone.')
    try:
        model = MODELS.build(model_cfg)
        if not needs_calibration(model.backbone):
            fail(f'the backbone {type(model.backbone).__name__} of the probe '
                 f'config has no shared BN with tracked statistics: nothing '
                 f'to calibrate (set track_running_stats=True, '
                 f'width_mode="universal").')
        get_bank(model.backbone, create=True)
        # mmengine logs every initialised parameter at INFO: keep it quiet.
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    except ValueError as e:
        fail(f'{e}')
    print(f'loaded the backbone of {checkpoint} strictly')
    for module in model.backbone.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and \
                module.track_running_stats:
            module.reset_running_stats()
    return model.to(device).eval()


def check_widths_fit(model: nn.Module, widths: Sequence[float]) -> None:
    """Each width must be one the backbone accepts (its channel rule)."""
    for width in widths:
        try:
            with using_width(model.backbone, width):
                pass
        except (TypeError, ValueError) as e:
            fail(f'--widths: {e}')


def calibration_loader(cfg: Config, args: argparse.Namespace):
    """The probe config's training loader (augmentations included)."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.update(
        num_workers=args.num_workers,
        persistent_workers=args.num_workers > 0)
    return Runner.build_dataloader(loader_cfg, seed=args.seed)


def feature_loaders(cfg: Config, args: argparse.Namespace
                    ) -> Tuple[object, object, int]:
    """Loaders of the training subset and the test set, no augmentation.

    Returns:
        tuple: The training-subset loader, the test loader and the size of
        the whole training set.
    """
    test_cfg = copy.deepcopy(cfg.test_dataloader)
    train_dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    train_dataset.pipeline = copy.deepcopy(test_cfg.dataset.pipeline)
    full = DATASETS.build(copy.deepcopy(train_dataset))
    total = len(full)
    if args.train_subset > total:
        fail(f'--train-subset {args.train_subset} is larger than the '
             f'training set ({total} images); lower it or pass 0 for all.')
    if args.train_subset:
        gen = torch.Generator().manual_seed(args.seed)
        indices = torch.randperm(total, generator=gen)[:args.train_subset]
        train_dataset.indices = sorted(indices.tolist())
    loaders = []
    for dataset in (train_dataset, test_cfg.dataset):
        loader_cfg = dict(
            batch_size=test_cfg.batch_size,
            num_workers=args.num_workers,
            persistent_workers=args.num_workers > 0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=test_cfg.get('collate_fn',
                                    dict(type='default_collate')),
            dataset=dataset)
        loaders.append(Runner.build_dataloader(loader_cfg, seed=args.seed))
    return loaders[0], loaders[1], total


def epochs_of(loader, epochs: int, desc: str) -> Iterator:
    """``epochs`` passes over ``loader`` (reshuffled), with a tqdm bar."""
    bar = tqdm(total=epochs * len(loader), desc=desc, unit='batch',
               leave=False)
    try:
        for epoch in range(epochs):
            if hasattr(loader.sampler, 'set_epoch'):
                loader.sampler.set_epoch(epoch)
            for batch in loader:
                yield batch
                bar.update(1)
    finally:
        bar.close()


def calibrate(model: nn.Module, loader, width: float, key: str,
              args: argparse.Namespace
              ) -> Tuple[Dict[str, Dict[str, torch.Tensor]], float, int]:
    """Calibrate ``width`` for setting ``key``; the stats, seconds, batches.

    The random state is reset first, so every setting reads the same
    batches with the same augmentations.
    """
    set_random_seed(args.seed)
    desc = f'w={width_label(width)} {setting_label(key)}'
    if key.startswith('cumulative'):
        num_batches = int(key.split('_')[1])
        batches = first_batches(loader, num_batches, desc, leave=False)
        options = dict(mode='cumulative')
    else:
        num_batches = args.ema_epochs * len(loader)
        batches = epochs_of(loader, args.ema_epochs, desc)
        options = dict(mode='ema', ema_momentum=args.ema_momentum)
    start = time.time()
    stats = calibrate_bn(model.backbone, batches,
                         calibration_forward(model, model.backbone),
                         [width], num_batches, **options)
    return stats[width], time.time() - start, num_batches


@torch.no_grad()
def extract(model: nn.Module, loader, width: float,
            desc: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features (eval mode, calibrated statistics) and labels of a loader.

    Returns:
        tuple[Tensor, Tensor]: ``(N, C)`` features and ``(N, )`` labels, on
        the CPU.
    """
    feats, labels = [], []
    with using_width(model.backbone, width):
        for batch in tqdm(loader, desc=desc, unit='batch', leave=False):
            data = model.data_preprocessor(batch, False)
            out = model.extract_feat(data['inputs'], stage='neck')
            x = out[-1] if isinstance(out, (list, tuple)) else out
            if x.dim() != 2:
                fail(f'the probe config gives {tuple(x.shape)} features; '
                     f'the linear probe needs (N, C): pool them with a neck '
                     f'(GlobalAveragePooling).')
            feats.append(x.float().cpu())
            labels.append(
                torch.cat([s.gt_label for s in data['data_samples']]).cpu())
    return torch.cat(feats), torch.cat(labels)


# ----------------------------------------------------------------------
# linear probe on cached features
# ----------------------------------------------------------------------
def probe_settings(cfg: Config, args: argparse.Namespace, num_train: int,
                   full_train: int) -> dict:
    """What the cached-feature probe takes from the probe config."""
    head = cfg.model.get('head', {})
    optimizer = copy.deepcopy(cfg.optim_wrapper.optimizer)
    name = optimizer.pop('type')
    if not hasattr(torch.optim, str(name)):
        fail(f'optim_wrapper.optimizer.type={name!r} is not a torch.optim '
             f'optimizer; the cached-feature probe builds it with '
             f'torch.optim.')
    batch_size = int(cfg.train_dataloader.batch_size)
    epochs = args.probe_epochs
    real_iters = int(cfg.train_cfg.get('max_epochs', 1)) * math.ceil(
        full_train / batch_size)
    per_epoch = math.ceil(num_train / batch_size)
    if epochs is None:
        epochs = max(1, math.ceil(real_iters / per_epoch))
    cosine = any(
        s.get('type') == 'CosineAnnealingLR'
        for s in cfg.get('param_scheduler', None) or [])
    return dict(
        num_classes=int(head.get('num_classes', 10)),
        feature_norm=bool(head.get('feature_norm', True)),
        optimizer=name,
        optimizer_args=dict(optimizer),
        batch_size=batch_size,
        epochs=int(epochs),
        iters=int(epochs) * per_epoch,
        real_probe_iters=real_iters,
        schedule='cosine' if cosine else 'constant',
        train_images=num_train)


def train_probe(train: Tuple[torch.Tensor, torch.Tensor],
                test: Tuple[torch.Tensor, torch.Tensor], settings: dict,
                seed: int) -> float:
    """Train a linear classifier on cached features; test top-1 (%).

    ``[BN(affine=False)] -> Linear``, as the probe head (with
    ``feature_norm``); initialisation and batch order depend only on
    ``seed``.
    """
    x, y = train
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dim = x.size(1)
    fc = nn.Linear(dim, settings['num_classes'])
    with torch.no_grad():
        fc.weight.normal_(0.0, 0.01, generator=gen)
        fc.bias.zero_()
    norm = nn.BatchNorm1d(dim, eps=1e-6, affine=False) \
        if settings['feature_norm'] else nn.Identity()
    model = nn.Sequential(norm, fc)
    optimizer = getattr(torch.optim, settings['optimizer'])(
        model.parameters(), **settings['optimizer_args'])
    base_lrs = [group['lr'] for group in optimizer.param_groups]
    batch_size, total, step = settings['batch_size'], settings['iters'], 0
    model.train()
    for _ in range(settings['epochs']):
        order = torch.randperm(x.size(0), generator=gen)
        for start in range(0, x.size(0), batch_size):
            index = order[start:start + batch_size]
            if settings['schedule'] == 'cosine':
                # lr_t = lr_0 * (1 + cos(pi * t / T)) / 2
                factor = 0.5 * (1 + math.cos(math.pi * step / total))
                for group, lr in zip(optimizer.param_groups, base_lrs):
                    group['lr'] = lr * factor
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    model.eval()
    with torch.no_grad():
        x_test, y_test = test
        correct = (model(x_test).argmax(1) == y_test).sum().item()
    return 100.0 * correct / y_test.numel()


# ----------------------------------------------------------------------
# results
# ----------------------------------------------------------------------
def relative_difference(stats: Dict[str, Dict[str, torch.Tensor]],
                        reference: Dict[str, Dict[str, torch.Tensor]],
                        stat: str) -> float:
    """``||s - s_ref|| / ||s_ref||`` over all BN layers of one statistic."""
    a = torch.cat([stats[k][stat].flatten() for k in sorted(reference)])
    b = torch.cat([reference[k][stat].flatten() for k in sorted(reference)])
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def plot(path: str, widths: Sequence[float], batches: Sequence[int],
         results: dict, ema: str) -> None:
    """Top-1 against cumulative batches (log x), EMA recipe dashed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for i, width in enumerate(widths):
        color = f'C{i}'
        row = results[width_key(width)]
        ax.plot(batches, [row[cumulative_key(n)][METRIC] for n in batches],
                'o-', color=color, label=f'w={width_label(width)}')
        ax.axhline(row[ema][METRIC], color=color, linestyle='--',
                   linewidth=1.2,
                   label=f'w={width_label(width)}, {setting_label(ema)} '
                   f'({row[ema]["calib_batches"]} batches)')
    ax.set_xscale('log')
    ax.set_xticks(list(batches))
    ax.set_xticklabels([str(n) for n in batches])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel('calibration batches (cumulative average)')
    ax.set_ylabel(f'linear-probe {METRIC} (%)')
    ax.set_title('BN calibration budget vs accuracy per width')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        for loader in LOADERS:
            if cfg.get(loader, None):
                cfg[loader].dataset.data_root = args.data_root
    widths = check_config(cfg, args.widths)
    if not osp.isfile(args.checkpoint):
        fail(f'checkpoint {args.checkpoint!r} does not exist; run `make '
             f'demo` (US3L pre-training) or pass --checkpoint.')
    check_config_paths(
        Config({k: cfg[k]
                for k in LOADERS if cfg.get(k, None)}))

    init_default_scope(cfg.get('default_scope', 'slim_plugins'))
    model = build_model(cfg, args.checkpoint, args.device)
    check_widths_fit(model, widths)
    loader = calibration_loader(cfg, args)
    too_many = [n for n in args.batches if n > len(loader)]
    if too_many:
        fail(f'--batches {too_many}: the calibration loader (the probe '
             f'config\'s train_dataloader) has only {len(loader)} batches '
             f'per epoch; lower the budgets.')
    train_loader, test_loader, full_train = feature_loaders(cfg, args)
    num_train = len(train_loader.dataset)
    probe = probe_settings(cfg, args, num_train, full_train)
    keys = [cumulative_key(n) for n in args.batches] + \
        [ema_key(args.ema_epochs)]
    ema, reference = keys[-1], keys[-2]
    batch_size = int(cfg.train_dataloader.batch_size)
    print(f'{len(widths)} widths x {len(keys)} settings; calibration batch '
          f'{batch_size}, {len(loader)} batches per epoch; EMA recipe: '
          f'{args.ema_epochs} x {len(loader)} = '
          f'{args.ema_epochs * len(loader)} batches per width; probe on '
          f'{num_train} cached training features, {probe["epochs"]} '
          f'epoch(s) ({probe["iters"]} iterations), test on '
          f'{len(test_loader.dataset)} images.')

    results: Dict[str, Dict[str, dict]] = {}
    all_stats: Dict[str, Dict[str, dict]] = {}
    start = time.time()
    jobs = tqdm(total=len(widths) * len(keys), desc='settings', unit='run')
    for width in widths:
        row: Dict[str, dict] = {}
        stats_row: Dict[str, dict] = {}
        for key in keys:
            stats, seconds, num_batches = calibrate(model, loader, width, key,
                                                    args)
            begin = time.time()
            tag = f'w={width_label(width)} features'
            train = extract(model, train_loader, width, f'{tag} (train)')
            test = extract(model, test_loader, width, f'{tag} (test)')
            extract_seconds = time.time() - begin
            begin = time.time()
            top1 = train_probe(train, test, probe, args.seed)
            row[key] = {
                METRIC: top1,
                'calib_seconds': seconds,
                'calib_batches': num_batches,
                'calib_images': num_batches * batch_size,
                'extract_seconds': extract_seconds,
                'probe_seconds': time.time() - begin,
                'feature_dim': int(train[0].size(1)),
            }
            stats_row[key] = stats
            jobs.update(1)
            jobs.write(f'w={width_label(width)} {setting_label(key)}: top-1 '
                       f'{top1:.2f}, calibration {seconds:.1f} s '
                       f'({num_batches} batches)')
        for key in keys:
            for stat in ('running_mean', 'running_var'):
                row[key][f'{stat}_rel_diff_to_{reference}'] = \
                    relative_difference(stats_row[key],
                                        stats_row[reference], stat)
        results[width_key(width)] = row
        all_stats[width_key(width)] = stats_row
    jobs.close()
    total_seconds = time.time() - start

    labels = {key: setting_label(key) for key in keys}
    top1_rows = {
        labels[key]: {width_key(w): results[width_key(w)][key][METRIC]
                      for w in widths}
        for key in keys
    }
    seconds_rows = {
        labels[key]: {width_key(w): results[width_key(w)][key]
                      ['calib_seconds']
                      for w in widths}
        for key in keys
    }
    top1_text = table(widths, top1_rows).splitlines()
    top1_text[0] += f'{"calib s":>10}'
    for i, key in enumerate(keys, start=1):
        top1_text[i] += f'{sum(seconds_rows[labels[key]].values()):10.1f}'
    os.makedirs(args.work_dir, exist_ok=True)
    png = osp.join(args.work_dir, PNG_NAME)
    plot(png, widths, args.batches, results, ema)
    torch.save(all_stats, osp.join(args.work_dir, STATS_NAME))
    summary = dict(
        config=args.config,
        checkpoint=args.checkpoint,
        widths=widths,
        batches=args.batches,
        ema_epochs=args.ema_epochs,
        ema_momentum=args.ema_momentum,
        calib_batch_size=batch_size,
        calib_batches_per_epoch=len(loader),
        settings=keys,
        labels=labels,
        metric=METRIC,
        probe=probe,
        test_images=len(test_loader.dataset),
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        results=results,
        total_seconds=total_seconds,
        stats_file=osp.join(args.work_dir, STATS_NAME),
        plot=png)
    path = osp.join(args.work_dir, JSON_NAME)
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n'.join([
        '', f'Fashion-MNIST linear probe (cached features, {num_train} '
        f'training images), test {METRIC} (%) per width after BN '
        f'calibration; calib s: calibration seconds summed over widths:',
        *top1_text, '', 'calibration seconds per width:',
        table(widths, seconds_rows), '',
        f'EMA recipe ({args.ema_epochs} epochs): '
        f'{args.ema_epochs * len(loader)} batches = '
        f'{args.ema_epochs * len(loader) * batch_size} images per width, '
        f'{sum(seconds_rows[labels[ema]].values()):.1f} s for all widths.',
        f'total {total_seconds:.1f} s ({args.threads} thread(s)); saved '
        f'{path}, {png}'
    ]))


if __name__ == '__main__':
    main()
