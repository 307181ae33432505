# Copyright (c) slim_plugins contributors. All rights reserved.
"""Science check: one US3L run against individually trained models.

US3L claims that one slimmable pre-training run is as good at every width
as separate models trained at each width. This script tests it on
Fashion-MNIST with the standard tools, run as subprocesses
(``tools/train.py``, ``tools/test.py``,
``tools/analysis_tools/plot_tradeoff.py``), whose logs stream through:

1. **US3L (one run)**: the US3L config of ``make demo`` (default
   ``tools/run_demo.py``'s ``US3L_CFG``), unchanged.
2. **individual**: for each of ``--widths``, the same config trained at that
   single width: the width sampler is replaced by
   ``AllWidthsSampler(widths=[w])`` (``model.default_widths=[w]`` too) and
   ``model.distill=False``, so the momentum teacher runs at ``w`` as well
   and the model is a plain SimCLR-Momentum network of width ``w`` (the
   reference's single-width baseline, ``NUM_SAMPLE_TRAINING=1`` with
   ``DISTILL=False``: spec 1.3 and 1.5). Everything else (optimizer,
   schedule, batches, GroupReg, EMA momentum, initialisation) is the US3L
   config's. Like US3L, the slimmable backbone is run at ``w``; its weights
   are initialised at full size, as in the reference.
3. **The same per-width linear probe** for each model (default
   ``US3L_PROBE_CFG``): a frozen backbone, BN statistics calibrated per width
   before training, one linear classifier per width; US3L at all of the
   probe config's widths and ``--widths``, every individual model at its own
   width only. The probe's in-place distillation between widths is off by
   default (``--probe-distill-weight 0``), so every width's classifier is
   trained on labels alone, as a single-width probe is.

**Same per-width compute**: every model is pre-trained for the same number
of iterations on the same schedule. US3L trains the sampler's widths at
every iteration, one SGD step each (the sandwich's largest and smallest
width, 1.0 and 0.25, at every iteration), so each individual model gets as
many updates at its width as US3L's sandwich ends get.

Output: the per-width test top-1 of both rows, the wall time of every
stage, ``<work-dir>/slim_vs_individual.json`` and, from
``plot_tradeoff.py``, ``<work-dir>/tradeoff/tradeoff.{md,json,png}``.

Example::

    python benchmarks/slim_vs_individual.py \\
        --work-dir work_dirs/slim_vs_individual --iters 300
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# tools/ is not a package: reach the tool helpers by path.
sys.path.insert(0, osp.join(ROOT, 'tools'))
from run_demo import US3L_CFG, US3L_PROBE_CFG  # noqa: E402
from tool_utils import fail, load_config  # noqa: E402

US3L_LABEL = 'US3L (one run)'
INDIVIDUAL_LABEL = 'individual'
METRIC = 'accuracy/top1'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
SAMPLER_HOOK = 'WidthSamplingHook'
CALIBRATION_HOOK = 'BNCalibrationHook'
# --tiny: 8-channel networks, small batches, no dataloader workers (tests
# and smoke runs on a few generated images).
TINY_PRETRAIN = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.neck.in_channels=64', 'model.neck.hid_channels=32',
    'model.neck.out_channels=16', 'model.aux_predictor.in_channels=16',
    'model.aux_predictor.hid_channels=32',
    'model.aux_predictor.out_channels=16', 'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1'
]
TINY_PROBE = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.head.in_channels=64', 'default_hooks.logger.interval=1'
] + [
    f'{loader}.{key}'
    for loader in LOADERS
    for key in ('batch_size=8', 'num_workers=0', 'persistent_workers=False')
]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-width linear top-1 of one US3L run vs models '
        'trained individually at each width (Fashion-MNIST).')
    parser.add_argument(
        '--work-dir',
        default=osp.join(ROOT, 'work_dirs', 'slim_vs_individual'),
        help='folder of all runs and results')
    parser.add_argument(
        '--data-root',
        default=osp.join(ROOT, 'data', 'fashion_mnist'),
        help='Fashion-MNIST idx files (tools/data/prepare_fashion_mnist.py)')
    parser.add_argument(
        '--widths', type=float, nargs='+', default=[1.0, 0.5, 0.25],
        help='widths of the individually trained models')
    parser.add_argument(
        '--iters', type=int, default=None,
        help='pre-training iterations of every model (default: the '
        'config\'s schedule); the epochs stay, each on the first '
        'ceil(N / epochs) x batch-size training images')
    parser.add_argument(
        '--probe-epochs', type=int, default=None,
        help='linear-probe epochs (default: the probe config\'s)')
    parser.add_argument(
        '--probe-distill-weight', type=float, default=0.0,
        help='in-place distillation of the US3L probe between widths '
        '(default 0: independent probes, like the single-width ones)')
    parser.add_argument(
        '--config', default=US3L_CFG, help='US3L pre-training config')
    parser.add_argument(
        '--probe-config', default=US3L_PROBE_CFG,
        help='per-width linear probe config')
    parser.add_argument(
        '--pretrain-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='extra --cfg-options of every pre-training run')
    parser.add_argument(
        '--probe-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='extra --cfg-options of every probe run (and of the MACs)')
    parser.add_argument(
        '--tiny', action='store_true',
        help='8-channel networks and small batches (tests, smoke runs)')
    args = parser.parse_args(argv)
    for option in args.pretrain_options + args.probe_options:
        if '=' not in option:
            parser.error(f'option {option!r} is not KEY=VALUE.')
    if args.iters is not None and args.iters <= 0:
        parser.error(f'--iters {args.iters} must be > 0.')
    if args.probe_epochs is not None and args.probe_epochs <= 0:
        parser.error(f'--probe-epochs {args.probe_epochs} must be > 0.')
    if not 0.0 <= args.probe_distill_weight <= 1.0:
        parser.error(f'--probe-distill-weight {args.probe_distill_weight} '
                     f'must lie in [0, 1].')
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root)
    args.config = _in_repo(args.config)
    args.probe_config = _in_repo(args.probe_config)
    return args


def _in_repo(path: str) -> str:
    """A config path (absolute) as given, else relative to the repo root."""
    return osp.abspath(path) if osp.exists(path) else osp.join(ROOT, path)


def parse_options(options: Sequence[str]) -> dict:
    """``KEY=VALUE`` strings parsed the way ``--cfg-options`` parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--o', *options]).o if options else {}


def merged_config(path: str, options: Sequence[str]) -> Config:
    """The config at ``path`` with ``options`` merged, as the tools do."""
    cfg = load_config(path)
    cfg.merge_from_dict(parse_options(options))
    return cfg


def width_key(width: float) -> str:
    """A width as a JSON key (``1``, ``0.75``: the loops' suffixes)."""
    return f'{width:g}'


def width_label(width: float) -> str:
    """A width for people: at least one decimal (``1.0``, ``0.75``)."""
    return f'{width:.1f}' if round(width, 1) == width else f'{width:g}'


def check_widths(widths: Sequence[float], cfg: Config) -> List[float]:
    """``widths`` sorted high to low; each must be in the backbone range."""
    widths = [float(w) for w in widths]
    if len(set(widths)) != len(widths):
        fail(f'--widths {widths} has duplicates; give each width once.')
    low, high = cfg.model.backbone.get('width_range', (0.0, 1.0))
    bad = [w for w in widths if not low <= w <= high]
    if bad:
        fail(f'--widths {bad} lie outside the backbone\'s width_range '
             f'({low}, {high}) of the pre-training config; choose widths in '
             f'that range.')
    return sorted(widths, reverse=True)


# ----------------------------------------------------------------------
# --cfg-options of each run
# ----------------------------------------------------------------------
def hook_indices(cfg: Config, hook_type: str) -> List[int]:
    """Positions of the ``hook_type`` hooks in ``cfg.custom_hooks``."""
    return [
        i for i, hook in enumerate(cfg.get('custom_hooks', []))
        if hook.get('type') == hook_type
    ]


def data_options(data_root: str, cfg: Config) -> List[str]:
    """Point every dataloader that ``cfg`` has at ``data_root``."""
    return [
        f'{loader}.dataset.data_root={data_root}' for loader in LOADERS
        if cfg.get(loader, None)
    ]


def iters_options(cfg: Config, iters: Optional[int]) -> List[str]:
    """Options capping pre-training at about ``iters`` iterations.

    An epoch-based schedule keeps its epochs (so the learning-rate schedule,
    the width schedule and GroupReg's ramp keep their shape), each on the
    first ``ceil(iters / epochs) * batch_size`` training images; the total
    is ``iters`` rounded up to a multiple of the epochs. An iteration-based
    loop gets ``max_iters=iters``.

    Args:
        cfg (Config): The merged pre-training config.
        iters (int, optional): The cap; None keeps the schedule.

    Returns:
        list[str]: ``KEY=VALUE`` options.
    """
    if iters is None:
        return []
    loop = cfg.train_cfg.get('type', 'EpochBasedTrainLoop')
    if 'IterBased' in loop:
        return [f'train_cfg.max_iters={iters}']
    epochs = cfg.train_cfg.get('max_epochs', None)
    if epochs is None:
        fail(f'cannot cap the iterations of train_cfg={cfg.train_cfg}: it '
             f'has neither max_epochs nor an IterBasedTrainLoop.')
    per_epoch = math.ceil(iters / epochs)
    images = per_epoch * cfg.train_dataloader.batch_size
    indices = cfg.train_dataloader.dataset.get('indices', None)
    if isinstance(indices, int) and images > indices:
        fail(f'--iters {iters} needs {images} training images per epoch, '
             f'more than the config\'s subset of {indices}; lower --iters '
             f'or leave it out for the full schedule.')
    if indices is not None and not isinstance(indices, int):
        fail(f'--iters needs train_dataloader.dataset.indices to be an int '
             f'or unset, got {type(indices).__name__}.')
    return [f'train_dataloader.dataset.indices={images}']


def individual_options(cfg: Config, width: float) -> List[str]:
    """Options turning the US3L config into a single-width model.

    The widths of every step become ``[width]`` (the sampler hook gets an
    ``AllWidthsSampler``; ``default_widths`` for a config without one) and
    distillation is off, so the EMA teacher runs at ``width`` too.

    Args:
        cfg (Config): The merged US3L pre-training config.
        width (float): The width of the individual model.

    Returns:
        list[str]: ``KEY=VALUE`` options.
    """
    options = ['model.distill=False', f'model.default_widths=[{width}]']
    for i in hook_indices(cfg, SAMPLER_HOOK):
        key = f'custom_hooks.{i}.sampler'
        options += [
            f'{key}._delete_=True', f'{key}.type=AllWidthsSampler',
            f'{key}.widths=[{width}]'
        ]
    return options


def probe_options(cfg: Config, widths: Sequence[float],
                  epochs: Optional[int], distill_weight: float) -> List[str]:
    """Options of the per-width probe at ``widths`` for ``epochs``.

    Args:
        cfg (Config): The merged probe config.
        widths (Sequence[float]): Widths probed (high to low).
        epochs (int, optional): Probe epochs; None keeps the config's.
        distill_weight (float): The head's in-place distillation weight.

    Returns:
        list[str]: ``KEY=VALUE`` options.
    """
    listed = '[' + ','.join(str(w) for w in widths) + ']'
    options = [
        f'model.widths={listed}', f'model.head.widths={listed}',
        f'model.head.distill_weight={distill_weight}'
    ]
    for loop in ('val_cfg', 'test_cfg'):
        if cfg.get(loop, None) and 'widths' in cfg[loop]:
            options.append(f'{loop}.widths={listed}')
    options += [
        f'custom_hooks.{i}.widths={listed}'
        for i in hook_indices(cfg, CALIBRATION_HOOK)
    ]
    if epochs is not None:
        old = cfg.train_cfg.max_epochs
        options += [
            f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={epochs}',
            f'default_hooks.checkpoint.interval={epochs}'
        ]
        for i, scheduler in enumerate(cfg.get('param_scheduler', [])):
            for key in ('T_max', 'end'):
                if scheduler.get(key) == old:
                    options.append(f'param_scheduler.{i}.{key}={epochs}')
    return options


# ----------------------------------------------------------------------
# running the tools
# ----------------------------------------------------------------------
def run(step: str, cmd: List[str], seconds: Dict[str, float]) -> None:
    """Run a tool in the repo root (its log streams through); time it."""
    print(f'\n==> {step}\n    $ {" ".join(cmd)}', flush=True)
    start = time.time()
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    seconds[step] = time.time() - start
    if result.returncode != 0:
        fail(f'step "{step}" failed with exit code {result.returncode}; '
             f'its log is above.')


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint that the CheckpointHook of ``work_dir`` saved last."""
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(ROOT, path)


def trained_iters(checkpoint: str) -> int:
    """The iteration count stored in a checkpoint's meta."""
    from slim_plugins.utils import load_checkpoint_file
    ckpt = load_checkpoint_file(checkpoint)
    return int(ckpt['meta']['iter'])


def pretrain(name: str, work_dir: str, args: argparse.Namespace,
             options: List[str], seconds: Dict[str, float]) -> str:
    """Pre-train with the US3L config; return the last checkpoint."""
    run(f'pretrain {name}', [
        sys.executable, 'tools/train.py', args.config, '--work-dir',
        work_dir, '--cfg-options', *options
    ], seconds)
    return last_checkpoint(work_dir)


def probe(name: str, work_dir: str, checkpoint: str,
          args: argparse.Namespace, options: List[str],
          seconds: Dict[str, float]) -> Tuple[List[dict], str]:
    """Per-width probe of ``checkpoint``: train, then test.

    Returns:
        tuple[list[dict], str]: The per-width results (``[{'width': w,
        metric: value, ...}]``) and the ``multi_width_test.json`` holding
        them.
    """
    # The test below evaluates once; no validation while training (so no
    # val_* options: --no-validate removes those parts of the config).
    train_options = [o for o in options if not o.startswith('val_')]
    run(f'probe {name}: train', [
        sys.executable, 'tools/train.py', args.probe_config, '--work-dir',
        work_dir, '--no-validate', '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={checkpoint}', *train_options
    ], seconds)
    before = set(glob.glob(osp.join(work_dir, '2*')))
    run(f'probe {name}: test', [
        sys.executable, 'tools/test.py', args.probe_config,
        last_checkpoint(work_dir), '--work-dir', work_dir, '--cfg-options',
        'model.backbone.init_cfg=None', *options
    ], seconds)
    new = set(glob.glob(osp.join(work_dir, '2*'))) - before
    files = [osp.join(d, 'multi_width_test.json') for d in new]
    files = [f for f in files if osp.isfile(f)]
    if len(files) != 1:
        fail(f'probe {name}: expected one multi_width_test.json in a new '
             f'log folder of {work_dir}, found {files}.')
    with open(files[0]) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return records[-1]['results'], files[0]


def top1_per_width(results: List[Dict[str, float]]) -> Dict[str, float]:
    return {width_key(r['width']): float(r[METRIC]) for r in results}


def table(widths: Sequence[float], rows: Dict[str, Dict[str, float]]) -> str:
    """The rows of per-width top-1 as an aligned text table."""
    label_width = max(len(label) for label in rows) + 2
    header = ' ' * label_width + ''.join(f'{"w=" + width_label(w):>9}'
                                         for w in widths)
    lines = [header]
    for label, row in rows.items():
        cells = ''.join(
            f'{row[width_key(w)]:9.2f}' if width_key(w) in row else
            f'{"-":>9}' for w in widths)
        lines.append(f'{label:<{label_width}}{cells}')
    return '\n'.join(lines)


def compute_note(cfg: Config, iters: int, batch_size: int) -> str:
    """How the pre-training compute compares, width by width."""
    hooks = [h for h in cfg.get('custom_hooks', [])
             if h.get('type') == SAMPLER_HOOK]
    sampler = dict(hooks[0].sampler) if hooks else {}
    name = sampler.pop('type', None)
    if name is None:
        how = f'default_widths={list(cfg.model.get("default_widths", []))}'
    else:
        how = f'{name}({", ".join(f"{k}={v}" for k, v in sampler.items())})'
    note = (f'Same per-width compute: every model ran {iters} pre-training '
            f'iterations of {batch_size} images on the same schedule. US3L '
            f'trains the widths of {how} at every iteration, one SGD step '
            f'each')
    if name == 'SandwichSampler':
        low, high = sampler['width_range']
        note += (f': {width_label(high)} and {width_label(low)} (the '
                 f'sandwich ends) get {iters} updates each, plus '
                 f'{sampler.get("num_samples", 2) - 2} random width(s) per '
                 f'iteration')
    return note + (f'. Each individual model gets {iters} updates at its '
                   f'own width.')


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        fail(f'data root {args.data_root!r} does not exist; prepare '
             f'Fashion-MNIST with `python tools/data/prepare_fashion_mnist.py'
             f' --out {args.data_root}` or pass --data-root.')
    if args.tiny:
        args.pretrain_options = TINY_PRETRAIN + args.pretrain_options
        probe_cfg = merged_config(args.probe_config, args.probe_options)
        args.probe_options = TINY_PROBE + [
            f'custom_hooks.{i}.num_batches=2'
            for i in hook_indices(probe_cfg, CALIBRATION_HOOK)
        ] + args.probe_options
    pre_cfg = merged_config(args.config, args.pretrain_options)
    probe_cfg = merged_config(args.probe_config, args.probe_options)
    widths = check_widths(args.widths, pre_cfg)
    probe_widths = list(probe_cfg.model.get('widths', ()))
    us3l_widths = sorted({float(w) for w in probe_widths} | set(widths),
                         reverse=True)
    check_widths(us3l_widths, probe_cfg)
    os.makedirs(args.work_dir, exist_ok=True)

    pre_common = (data_options(args.data_root, pre_cfg) +
                  iters_options(pre_cfg, args.iters))
    probe_common = data_options(args.data_root, probe_cfg)
    seconds: Dict[str, float] = {}
    iters: Dict[str, int] = {}
    top1: Dict[str, Dict[str, float]] = {US3L_LABEL: {}, INDIVIDUAL_LABEL: {}}
    files: Dict[str, str] = {}

    # US3L: one run, probed at every width.
    run_dir = osp.join(args.work_dir, 'us3l')
    checkpoint = pretrain('US3L', run_dir, args,
                          pre_common + args.pretrain_options, seconds)
    iters['US3L'] = trained_iters(checkpoint)
    results, files['US3L'] = probe(
        'US3L', osp.join(args.work_dir, 'probe_us3l'), checkpoint, args,
        probe_common + probe_options(probe_cfg, us3l_widths,
                                     args.probe_epochs,
                                     args.probe_distill_weight) +
        args.probe_options, seconds)
    top1[US3L_LABEL] = top1_per_width(results)

    # Individual models: one run per width, each probed at its width.
    individual_results = []
    for width in widths:
        name = f'individual w={width_key(width)}'
        tag = f'w{width_key(width)}'
        checkpoint = pretrain(
            name, osp.join(args.work_dir, f'individual_{tag}'), args,
            pre_common + individual_options(pre_cfg, width) +
            args.pretrain_options, seconds)
        iters[name] = trained_iters(checkpoint)
        results, _ = probe(
            name, osp.join(args.work_dir, f'probe_individual_{tag}'),
            checkpoint, args,
            probe_common + probe_options(probe_cfg, [width],
                                         args.probe_epochs, 0.0) +
            args.probe_options, seconds)
        individual_results += [
            r for r in results if float(r['width']) == width
        ]
    top1[INDIVIDUAL_LABEL] = top1_per_width(individual_results)
    if len(set(iters.values())) != 1:
        fail(f'the runs trained different numbers of iterations {iters}; '
             f'the comparison needs the same schedule for all.')

    # The individual models as one multi-width results file (JSON lines,
    # the layout of MultiWidthTestLoop) for the trade-off table and plot.
    files['individual'] = osp.join(args.work_dir, 'individual',
                                   'multi_width_test.json')
    os.makedirs(osp.dirname(files['individual']), exist_ok=True)
    with open(files['individual'], 'w') as f:
        f.write(json.dumps(dict(stage='test', results=individual_results)) +
                '\n')
    out_dir = osp.join(args.work_dir, 'tradeoff')
    run('trade-off table and plot', [
        sys.executable, 'tools/analysis_tools/plot_tradeoff.py',
        files['US3L'], files['individual'], '--labels', US3L_LABEL,
        INDIVIDUAL_LABEL, '--config', args.probe_config, '--input-shape',
        '1', '28', '28', '--out-dir', out_dir, *(
            ['--cfg-options', *args.probe_options]
            if args.probe_options else [])
    ], seconds)

    note = compute_note(pre_cfg, iters['US3L'],
                        pre_cfg.train_dataloader.batch_size)
    text = table(us3l_widths, top1)
    print('\n'.join([
        '', 'Fashion-MNIST, per-width linear probe (frozen backbone, BN '
        'calibrated per width), test top-1 (%):', text, '', note, '',
        'wall time per stage (s):'
    ] + [f'  {step:<40} {s:8.1f}' for step, s in seconds.items()]))
    summary = dict(
        config=args.config,
        probe_config=args.probe_config,
        widths=widths,
        us3l_probe_widths=us3l_widths,
        metric=METRIC,
        top1=top1,
        pretrain_iters=iters,
        compute=note,
        probe_distill_weight=args.probe_distill_weight,
        pretrain_options=args.pretrain_options,
        probe_options=args.probe_options,
        seconds=seconds,
        results_files=files,
        tradeoff=dict(
            md=osp.join(out_dir, 'tradeoff.md'),
            png=osp.join(out_dir, 'tradeoff.png')))
    path = osp.join(args.work_dir, 'slim_vs_individual.json')
    with open(path, 'w') as f:
        json.dump(summary, f, indent=2)
    print(f'\nsaved {path}; table {out_dir}/tradeoff.md, plot '
          f'{out_dir}/tradeoff.png')


if __name__ == '__main__':
    main()
