# Copyright (c) slim_plugins contributors. All rights reserved.
"""Science check: one slimmable run against individually trained models.

US3L and SlimCLR claim that one slimmable pre-training run is as good at
every width as separate models trained at each width. This script tests it
on Fashion-MNIST with the standard tools, run as subprocesses
(``tools/train.py``, ``tools/test.py``), whose logs stream through, for
``--seeds`` seeds (``randomness.seed`` of every run and the width sampler's
seed). ``--family`` picks the method (one per work dir, :data:`FAMILIES`):

* ``us3l`` (default): the description below;
* ``slimclr``: SlimCLR-MoCoV2 (switchable BN, widths 1.0 / 0.75 / 0.5 /
  0.25, slow start after epoch 1 of 2) against MoCo v2 trained at each of
  its widths: the same config with ``[w]`` as the width list of the
  backbone, the projector and the algorithm (one BN per layer, the key
  encoder at ``w``, nothing to distil), probed with the switchable probe
  (each width's own BN statistics, nothing calibrated). SlimCLR takes one
  optimizer step per iteration (the widths' gradients are accumulated), so
  at equal iterations every weight of every model is updated once per
  iteration.

1. **US3L (one run)**: the US3L config of ``make demo`` (default
   ``tools/run_demo.py``'s ``US3L_CFG``), unchanged. Each ``--ablations``
   name adds one more row: the same run with one setting changed
   (:data:`US3L_ABLATIONS`, :data:`SLIMCLR_ABLATIONS`), or several joined
   by ``+`` (``no-slow-start+no-distill``: an ablation measured on top of
   another). An ablation of the probe alone probes the one run's checkpoint
   of the same seed; probe settings added to pre-training ablations
   (``no-slow-start+probe-no-bn``) probe the checkpoint of those ablations'
   row, listed earlier.
2. **individual**: for each of ``--widths``, the same config trained at that
   single width: the width sampler is replaced by
   ``AllWidthsSampler(widths=[w])`` (``model.default_widths=[w]`` too) and
   ``model.distill=False``, so the momentum teacher runs at ``w`` as well
   and the model is a plain SimCLR-Momentum network of width ``w`` (the
   reference's single-width baseline, ``NUM_SAMPLE_TRAINING=1`` with
   ``DISTILL=False``: spec 1.3 and 1.5). Everything else (optimizer,
   schedule, batches, GroupReg, EMA momentum, initialisation) is the US3L
   config's.
3. **The same per-width linear probe** for each model (default
   ``US3L_PROBE_CFG``): a frozen backbone, BN statistics calibrated per width
   before training, one linear classifier per width; US3L at all of the
   probe config's widths and ``--widths``, every individual model at its own
   width only. The probe's in-place distillation between widths is off by
   default (``--probe-distill-weight 0``), so every width's classifier is
   trained on labels alone, as a single-width probe is.

**Which weights are updated how often.** With the default
``step_mode='per_width'`` US3L takes one SGD step per sampled width and
iteration. The sandwich sampler of the demo config trains 1.0, 0.25 and one
uniform width in between at every iteration, so in ``N`` iterations the
shared weights take ``3N`` steps: the 0.25x slice (the channels every width
shares) is updated ``3N`` times, the channels only 1.0 uses ``N`` times
plus the random width's share. An individual model of width ``w`` takes
``N`` steps on its own weights.

**Two fairness axes** (``--fairness``):

* ``iterations``: every model trains ``--iters`` iterations of the same
  batches and schedule (the US3L paper's comparison);
* ``compute``: the individual models together get the training MACs of the
  one US3L run, split evenly among ``--widths`` (a user who trains one model
  per width with the same budget); the narrow models then train for more
  iterations (same epochs, more images per epoch).

Training cost of every row: wall time of the pre-training, optimizer steps
and training MACs (:func:`training_cost`: forward + backward of every
student width, ``3x`` its forward, plus the teacher's forward, over both
views; backbone convolutions only, the MLP heads add a few percent).

Results go to ``<work-dir>/runs/<row>/seed<S>/result.json`` as each run
ends; a rerun skips finished runs and resumes an interrupted pre-training,
so a long benchmark can be run in pieces. ``<work-dir>/settings.json``
keys the folder to its configuration: another configuration there is
refused (nothing is overwritten). ``--only-seeds`` trains some of the seeds
and reads the others' finished results, so two shells can run disjoint
seeds side by side; a seed being trained is locked, and a second
invocation training it is refused. Output: the per-width test top-1 (mean
+- sample std over seeds) of every row, the cost table,
``<work-dir>/slim_vs_individual.json`` (every seed's numbers too) and an
accuracy-vs-MACs plot with error bars ``<work-dir>/slim_vs_individual.png``.

Example::

    python benchmarks/slim_vs_individual.py \\
        --work-dir work_dirs/slim_vs_individual --iters 200 --seeds 3
"""
import argparse
import fcntl
import glob
import hashlib
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import (IO, Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple)

from mmengine.config import Config, DictAction

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# tools/ is not a package: reach the tool helpers by path.
sys.path.insert(0, osp.join(ROOT, 'tools'))
from run_demo import US3L_CFG, US3L_PROBE_CFG  # noqa: E402
from tool_utils import fail, load_config  # noqa: E402

METRIC = 'accuracy/top1'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
SAMPLER_HOOK = 'WidthSamplingHook'
SUBSET_KEY = 'train_dataloader.dataset.indices'
CALIBRATION_HOOK = 'BNCalibrationHook'
INPUT_SHAPE = (1, 28, 28)
VIEWS = 2
# Forward + backward of a student width, in forwards (backward ~ 2x).
TRAIN_FORWARDS = 3
FAIRNESS = ('iterations', 'compute')
# One setting of the one run changed per row: (pre-training options, probe
# options). ``{sampling_hook}`` stands for the width-sampling hook of the
# pre-training config (``custom_hooks.i``), ``{calibration}`` for the BN
# calibration hook of the probe config. A row without pre-training options
# probes the one run's own checkpoint.
US3L_ABLATIONS: Dict[str, tuple] = {
    'no-distill': (['model.distill=False'], []),
    'no-group-reg': (['model.group_reg=None'], []),
    'accumulate': (['model.step_mode=accumulate'], []),
    'loss-weighting-5': (['model.loss_weighting=5'], []),
    'teacher-max-width': (['model.teacher=max_width'], []),
    'us3l-schedule': ([
        '{sampling_hook}.sampler.type=US3LScheduleSampler',
        'train_cfg.max_epochs=4',
        'param_scheduler.0.T_max=4', 'param_scheduler.0.end=4'
    ], []),
    'probe-distill': ([], ['model.head.distill_weight=0.5']),
    'probe-no-bn': ([], ['model.head.feature_norm=False']),
    # 5x the probe config's 20 calibration batches of the shared BNs
    'probe-calibration-100': ([], ['{calibration}.num_batches=100']),
    # The control: the initialised network, probed the same way (one
    # iteration at learning rate 0 writes the seed's initial weights as a
    # checkpoint; the probe recalibrates the BN statistics it touched).
    'untrained': ([
        'optim_wrapper.optimizer.lr=0', 'train_cfg.max_epochs=1',
        f'{SUBSET_KEY}=64'
    ], []),
}
# --tiny: 8-channel networks, small batches, no dataloader workers (tests
# and smoke runs on a few generated images).
TINY_TRAIN_LOADER = [
    'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1'
]
TINY_PRETRAIN = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.neck.in_channels=64', 'model.neck.hid_channels=32',
    'model.neck.out_channels=16', 'model.aux_predictor.in_channels=16',
    'model.aux_predictor.hid_channels=32',
    'model.aux_predictor.out_channels=16'
] + TINY_TRAIN_LOADER
TINY_PROBE = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.head.in_channels=64', 'default_hooks.logger.interval=1'
] + [
    f'{loader}.{key}'
    for loader in LOADERS
    for key in ('batch_size=8', 'num_workers=0', 'persistent_workers=False')
]
SLIMCLR_CFG = ('configs/slimclr/'
               'slimclr-mocov2_slim-resnet18_1xb64-coslr-2e_fashion-mnist.py')
SLIMCLR_PROBE_CFG = ('configs/slimclr/benchmarks/slim-resnet18_switchable-'
                     'linear-1xb128-coslr-1e_fashion-mnist.py')
SLIMCLR_ABLATIONS: Dict[str, tuple] = {
    'no-slow-start': (['{sampling_hook}.sampler.start_epoch=0',
                       'param_scheduler.0.slow_start=0'], []),
    'no-distill': (['model.distill_weight=0.0'], []),
    'reference-kd': ([
        'model.kd_on_raw_cosines=True', 'model.distill_temperature=5.0'
    ], []),
    'uniform-weighting': (['model.loss_weighting=uniform'], []),
    'probe-distill': ([], ['model.head.distill_weight=0.5']),
    'probe-no-bn': ([], ['model.head.feature_norm=False']),
    # the initialised network, probed the same way: as US3L's, without the
    # LR schedule (its post-slow-start LR is absolute, not relative to 0)
    'untrained': (US3L_ABLATIONS['untrained'][0] + ['param_scheduler=[]'],
                  []),
}
TINY_SLIMCLR_PRETRAIN = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.neck.in_channels=64', 'model.neck.hid_channels=64',
    'model.queue_len=64'
] + TINY_TRAIN_LOADER


class Family(NamedTuple):
    """A slimmable method and the single-width models it is compared with.

    Args:
        method (str): Name of the method (rows: ``<method> (one run)``,
            ``<method> <ablation>``).
        individual (str): Row of the individually trained models.
        config (str): Pre-training config of the one run.
        probe_config (str): Its per-width probe config.
        widths (list[float]): Default ``--widths``.
        ablations (dict): Ablation rows (see :data:`US3L_ABLATIONS`).
        tiny_pretrain (list[str]): ``--tiny`` pre-training options.
        tiny_probe (list[str]): ``--tiny`` probe options.
    """
    method: str
    individual: str
    config: str
    probe_config: str
    widths: List[float]
    ablations: Dict[str, tuple]
    tiny_pretrain: List[str]
    tiny_probe: List[str]

    @property
    def label(self) -> str:
        """Row of the one run."""
        return f'{self.method} (one run)'


FAMILIES: Dict[str, Family] = {
    'us3l':
    Family('US3L', 'individual', US3L_CFG, US3L_PROBE_CFG,
           [1.0, 0.5, 0.25], US3L_ABLATIONS, TINY_PRETRAIN, TINY_PROBE),
    'slimclr':
    Family('SlimCLR-MoCoV2', 'individual MoCoV2', SLIMCLR_CFG,
           SLIMCLR_PROBE_CFG, [1.0, 0.75, 0.5, 0.25], SLIMCLR_ABLATIONS,
           TINY_SLIMCLR_PRETRAIN, TINY_PROBE),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-width linear top-1 of one US3L run vs models '
        'trained individually at each width (Fashion-MNIST), over seeds.')
    parser.add_argument(
        '--work-dir',
        default=osp.join(ROOT, 'work_dirs', 'slim_vs_individual'),
        help='folder of all runs and results (one configuration per folder)')
    parser.add_argument(
        '--data-root',
        default=osp.join(ROOT, 'data', 'fashion_mnist'),
        help='Fashion-MNIST idx files (tools/data/prepare_fashion_mnist.py)')
    parser.add_argument(
        '--family', choices=sorted(FAMILIES), default='us3l',
        help='the slimmable method: US3L (universally slimmable, against '
        'SimCLR-Momentum at one width) or SlimCLR-MoCoV2 (switchable BN at '
        'its fixed widths, against MoCo v2 at one width)')
    parser.add_argument(
        '--widths', type=float, nargs='+', default=None,
        help='widths of the individually trained models (default: US3L '
        '1.0 0.5 0.25, SlimCLR its four widths)')
    parser.add_argument(
        '--seeds', type=int, default=3,
        help='number of seeds (0, 1, ...) of every run; mean +- std over '
        'them is reported')
    parser.add_argument(
        '--only-seeds', type=int, nargs='+', metavar='SEED',
        help='train only these of the seeds (the others\' finished runs '
        'are read, unfinished ones left out of the tables); run disjoint '
        'sets in two shells to use two cores')
    parser.add_argument(
        '--fairness', nargs='*', choices=FAIRNESS, default=list(FAIRNESS),
        help='equal iterations for every model, and/or individual models '
        'sharing the one run\'s training MACs; none: the one run and its '
        'ablations only')
    parser.add_argument(
        '--ablations', nargs='*', default=[], metavar='NAME[+NAME...]',
        help='extra rows of the one run, each with one setting changed '
        '(US3L: ' + ', '.join(US3L_ABLATIONS) + '; SlimCLR: ' +
        ', '.join(SLIMCLR_ABLATIONS) + '); NAME+NAME changes several '
        'settings in one row (e.g. no-slow-start+no-distill)')
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
        '--config', default=None,
        help='pre-training config of the one run (default: the family\'s '
        'Fashion-MNIST config)')
    parser.add_argument(
        '--probe-config', default=None,
        help='per-width linear probe config (default: the family\'s)')
    parser.add_argument(
        '--pretrain-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='extra --cfg-options of every pre-training run')
    parser.add_argument(
        '--probe-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='extra --cfg-options of every probe run (and of the MACs)')
    parser.add_argument(
        '--report', action='store_true',
        help='train nothing: print the tables of the runs finished so far '
        '(cells with fewer seeds say n=K)')
    parser.add_argument(
        '--tiny', action='store_true',
        help='8-channel networks and small batches (tests, smoke runs)')
    args = parser.parse_args(argv)
    for option in args.pretrain_options + args.probe_options:
        if '=' not in option:
            parser.error(f'option {option!r} is not KEY=VALUE.')
    if args.seeds < 1:
        parser.error(f'--seeds {args.seeds} must be >= 1 (2 or more to '
                     f'measure a spread).')
    if args.only_seeds is not None:
        outside = sorted(set(args.only_seeds) - set(range(args.seeds)))
        if outside:
            parser.error(f'--only-seeds {outside}: not among the seeds '
                         f'0-{args.seeds - 1} of --seeds {args.seeds}.')
        if args.report:
            parser.error('--only-seeds trains; --report trains nothing.')
    if args.iters is not None and args.iters <= 0:
        parser.error(f'--iters {args.iters} must be > 0.')
    if args.probe_epochs is not None and args.probe_epochs <= 0:
        parser.error(f'--probe-epochs {args.probe_epochs} must be > 0.')
    if not 0.0 <= args.probe_distill_weight <= 1.0:
        parser.error(f'--probe-distill-weight {args.probe_distill_weight} '
                     f'must lie in [0, 1].')
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root)
    family = FAMILIES[args.family]
    try:
        check_ablations(family, args.ablations)
    except ValueError as error:
        parser.error(f'--ablations (--family {args.family}): {error}')
    if args.widths is None:
        args.widths = list(family.widths)
    args.config = _in_repo(args.config or family.config)
    args.probe_config = _in_repo(args.probe_config or family.probe_config)
    return args


def ablation_parts(family: Family, name: str) -> List[str]:
    """The single ablations of a row name, ``a+b`` -> ``['a', 'b']``."""
    parts = name.split('+')
    unknown = [p for p in parts if p not in family.ablations]
    if unknown:
        raise ValueError(f'{unknown} in {name!r} are not ablations of this '
                         f'family; choose from {sorted(family.ablations)}.')
    if len(set(parts)) < len(parts):
        raise ValueError(f'{name!r} names an ablation twice.')
    return parts


def ablation_options(family: Family,
                     name: str) -> Tuple[List[str], List[str], Optional[str]]:
    """Pre-training and probe options of an ablation row, and whose
    checkpoint it probes.

    Args:
        family (Family): The slimmable method.
        name (str): An ablation (``no-distill``) or several joined by
            ``+`` (``no-slow-start+no-distill``), applied in that order.

    Returns:
        tuple: ``(pretrain_options, probe_options, pretrained_by)``, where
        ``pretrained_by`` is the ablation (``''``: the one run) whose
        pre-trained checkpoint a row that only adds probe settings probes;
        None when the row pre-trains itself.
    """
    parts = ablation_parts(family, name)
    pretrain = [o for p in parts for o in family.ablations[p][0]]
    probe = [o for p in parts for o in family.ablations[p][1]]
    pretraining = [p for p in parts if family.ablations[p][0]]
    if len(pretraining) == len(parts):
        return pretrain, probe, None
    return pretrain, probe, '+'.join(pretraining)


def check_ablations(family: Family, names: Sequence[str]) -> None:
    """Refuse unknown, repeated or unordered ``--ablations``.

    A row that adds probe settings to pre-training ablations probes the
    checkpoint of the row of those pre-training ablations alone, which must
    therefore come earlier in the list.

    Raises:
        ValueError: Naming the offending row.
    """
    seen = {''}
    for name in names:
        if name in seen:
            raise ValueError(f'{name!r} is listed twice.')
        _, _, pretrained_by = ablation_options(family, name)
        if pretrained_by is not None and pretrained_by not in seen:
            raise ValueError(
                f'{name!r} probes the checkpoint of {pretrained_by!r}, '
                f'which must be listed before it.')
        seen.add(name)


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


def has_fixed_widths(cfg: Config) -> bool:
    """Whether the config's backbone has a fixed width list (switchable
    BN, SlimCLR) rather than a width range (universally slimmable)."""
    return cfg.model.backbone.get('width_mode') == 'switchable'


def check_widths(widths: Sequence[float], cfg: Config) -> List[float]:
    """``widths`` sorted high to low; each must be in the backbone range
    (universally slimmable) or its list (fixed widths, switchable BN)."""
    widths = [float(w) for w in widths]
    if len(set(widths)) != len(widths):
        fail(f'--widths {widths} has duplicates; give each width once.')
    backbone = cfg.model.backbone
    if has_fixed_widths(cfg):
        listed = [float(w) for w in backbone.get('widths', ())]
        bad = [w for w in widths if not any(
            abs(w - v) < 1e-6 for v in listed)]
        if bad:
            fail(f'--widths {bad} are not widths of the switchable backbone '
                 f'of the pre-training config ({listed}); choose from them.')
        return sorted(widths, reverse=True)
    low, high = backbone.get('width_range', (0.0, 1.0))
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


def hook_options(options: Sequence[str], cfg: Config, field: str,
                 hook_type: str) -> List[str]:
    """``options`` with ``{field}`` pointed at every ``hook_type`` hook.

    Args:
        options (Sequence[str]): ``KEY=VALUE`` strings; a key holding
            ``{field}`` (``{calibration}.num_batches=...``) is repeated for
            each ``hook_type`` hook of ``cfg``
            (``custom_hooks.0.num_batches=...``).
        cfg (Config): The config the options will be merged into.
        field (str): The placeholder.
        hook_type (str): The hook type it stands for.

    Returns:
        list[str]: The options, placeholders replaced.

    Raises:
        SystemExit: A placeholder used where ``cfg`` has no such hook.
    """
    placeholder = '{' + field + '}'
    hooks = [f'custom_hooks.{i}' for i in hook_indices(cfg, hook_type)]
    formatted = []
    for option in options:
        if placeholder not in option:
            formatted.append(option)
        elif not hooks:
            fail(f'option {option!r}: the config has no {hook_type} in '
                 f'custom_hooks.')
        else:
            formatted += [option.replace(placeholder, h) for h in hooks]
    return formatted


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
    return [f'{SUBSET_KEY}={images}']


def individual_options(cfg: Config, width: float) -> List[str]:
    """Options turning the one run's config into a single-width model.

    The widths of every step become ``[width]`` (the sampler hook gets an
    ``AllWidthsSampler``). A universally slimmable model (US3L) also gets
    ``default_widths=[width]`` and ``distill=False``, so its EMA teacher
    runs at ``width`` too. A model of fixed widths (switchable BN,
    SlimCLR) gets ``[width]`` as the width list of the backbone, the neck
    and the algorithm: one BN per layer, channels ``int(C width)``, the key
    encoder at ``width``, nothing to distil; the loss weighting of one
    width is 1 under every option.

    Args:
        cfg (Config): The merged pre-training config of the one run.
        width (float): The width of the individual model.

    Returns:
        list[str]: ``KEY=VALUE`` options.
    """
    if has_fixed_widths(cfg):
        options = [f'model.{part}widths=[{width}]'
                   for part in ('', 'backbone.', 'neck.')]
    else:
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
    if has_fixed_widths(cfg):
        # one BN per width: the probe's list is the checkpoint's
        options.append(f'model.backbone.widths={listed}')
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


def schedule_options(cfg: Config, iters: int, family_iters: int) -> List[str]:
    """Options for about ``iters`` iterations when that exceeds a run of
    ``family_iters``: the epochs (and every scheduler ending with them) are
    stretched by ``ceil(iters / family_iters)``, each epoch on no more
    images than the family's, so a long run never asks for more images per
    epoch than the data has.

    Args:
        cfg (Config): The merged pre-training config of the run.
        iters (int): Target iterations.
        family_iters (int): Iterations of the run it is matched against.

    Returns:
        list[str]: ``KEY=VALUE`` options.
    """
    factor = max(1, math.ceil(iters / family_iters))
    if factor == 1:
        return iters_options(cfg, iters)
    epochs = cfg.train_cfg.max_epochs
    stretched = epochs * factor
    options = [f'train_cfg.max_epochs={stretched}']
    for i, scheduler in enumerate(cfg.get('param_scheduler', [])):
        for key in ('T_max', 'end'):
            if scheduler.get(key) == epochs:
                options.append(f'param_scheduler.{i}.{key}={stretched}')
    per_epoch = math.ceil(iters / stretched)
    images = per_epoch * cfg.train_dataloader.batch_size
    return options + [f'train_dataloader.dataset.indices={images}']


# ----------------------------------------------------------------------
# training cost
# ----------------------------------------------------------------------
class Cost(NamedTuple):
    """Training cost of one pre-training run.

    Args:
        iters (int): Iterations.
        steps (float): Optimizer steps (expected, for random widths).
        macs (float): Training multiply-accumulates (expected).
    """
    iters: int
    steps: float
    macs: float


def uniform_mean(macs: Callable[[float], float], low: float, high: float,
                 points: int = 32) -> float:
    """Mean MACs of a width drawn uniformly in ``[low, high]`` (midpoint
    rule over ``points`` widths)."""
    return sum(
        macs(low + (high - low) * (i + 0.5) / points)
        for i in range(points)) / points


def step_widths(cfg: Config, macs: Callable[[float], float]) -> tuple:
    """Expected (number of widths, sum of their MACs) of one iteration,
    averaged over the epochs, from the config's width sampler."""
    hooks = [h for h in cfg.get('custom_hooks', [])
             if h.get('type') == SAMPLER_HOOK]
    if not hooks:
        widths = list(cfg.model.get('default_widths', None) or [1.0])
        return len(widths), sum(macs(w) for w in widths)
    sampler = hooks[0].sampler
    name = sampler.type
    if name == 'AllWidthsSampler':
        return len(sampler.widths), sum(macs(w) for w in sampler.widths)
    if name == 'SlowStartSampler':
        # the largest width alone before start_epoch, the list after
        widths = sampler.sampler
        if not isinstance(widths, (list, tuple)):
            fail(f'training_cost: SlowStartSampler over {widths!r}: the '
                 f'cost model needs a list of widths.')
        epochs = cfg.train_cfg.max_epochs
        slow = min(sampler.get('start_epoch', 0), epochs)
        count = (slow + (epochs - slow) * len(widths)) / epochs
        total = (slow * macs(max(widths)) +
                 (epochs - slow) * sum(macs(w) for w in widths)) / epochs
        return count, total
    low, high = sampler.get('width_range', (0.25, 1.0))
    n = sampler.get('num_samples', 3 if name != 'RandomSampler' else 2)
    if name == 'SandwichSampler':
        return n, macs(high) + macs(low) + (n - 2) * uniform_mean(
            macs, low, high)
    if name == 'RandomSampler':
        return n, n * uniform_mean(macs, low, high)
    if name == 'US3LScheduleSampler':
        epochs = cfg.train_cfg.max_epochs
        quarter = epochs // 4
        count = total = 0.0
        for epoch in range(epochs):
            stage = min(epoch // quarter + 1, 4)
            if stage == 1:
                count, total = count + 1, total + macs(high)
                continue
            lo = low + (4 - stage) * (high - low) / 3
            count += n
            if sampler.get('sandwich', True):
                total += macs(high) + macs(lo) + (n - 2) * uniform_mean(
                    macs, lo, high)
            else:
                total += n * uniform_mean(macs, lo, high)
        return count / epochs, total / epochs
    fail(f'training_cost: no cost model for width sampler {name!r}; '
         f'supported: AllWidthsSampler, SlowStartSampler, SandwichSampler, '
         f'RandomSampler, US3LScheduleSampler.')


def training_cost(cfg: Config, iters: int,
                  macs: Callable[[float], float]) -> Cost:
    """Optimizer steps and training MACs of ``iters`` iterations.

    US3L, per iteration and image, over both views: every student width
    costs ``TRAIN_FORWARDS`` (3) forwards (forward + backward); the EMA
    teacher one forward at its width when sub-networks are distilled to it
    (``distill=True``), or one forward at each width when every width is
    trained against the EMA copy at its own width (``distill=False``);
    ``teacher='max_width'`` adds one forward of the largest width. One
    optimizer step per width with ``step_mode='per_width'``, one per
    iteration with ``'accumulate'``.

    SlimCLR-MoCoV2, per iteration and image: the query view through every
    student width (``TRAIN_FORWARDS`` forwards each), the key view once
    through the key encoder at the largest width; one optimizer step per
    iteration (the widths' gradients are accumulated).

    Args:
        cfg (Config): The merged pre-training config.
        iters (int): Iterations trained.
        macs (callable): Forward MACs of one image at a width.

    Returns:
        Cost: Iterations, optimizer steps and training MACs.
    """
    model = cfg.model
    count, student = step_widths(cfg, macs)
    batch = cfg.train_dataloader.batch_size
    if model.get('type') == 'SlimCLRMoCoV2':
        key_width = max(float(w) for w in model.backbone.widths)
        per_image = TRAIN_FORWARDS * student + macs(key_width)
        return Cost(iters, iters, iters * batch * per_image)
    teacher = 0.0
    has_ema = model.get('momentum', None) is not None
    if model.get('distill', True):
        if has_ema:
            teacher += macs(model.get('teacher_width', 1.0))
        if model.get('teacher', 'ema') == 'max_width':
            teacher += macs(1.0)
    elif has_ema:
        teacher += student
    per_image = VIEWS * (TRAIN_FORWARDS * student + teacher)
    per_iter_steps = count if model.get('step_mode',
                                        'per_width') == 'per_width' else 1
    return Cost(iters, iters * per_iter_steps, iters * batch * per_image)


class BackboneMACs:
    """Forward MACs of one image through the config's backbone, per width
    (cached)."""

    def __init__(self, cfg: Config) -> None:
        from slim_plugins.models.utils import width_complexity
        from slim_plugins.registry import MODELS
        backbone = dict(cfg.model.backbone)
        backbone.pop('init_cfg', None)
        self._backbone = MODELS.build(backbone)
        self._complexity = width_complexity
        self._cache: Dict[float, int] = {}

    def __call__(self, width: float) -> float:
        width = round(float(width), 6)
        if width not in self._cache:
            (row, ) = self._complexity(self._backbone, [width], INPUT_SHAPE)
            self._cache[width] = row.macs
        return self._cache[width]


# ----------------------------------------------------------------------
# seeds and aggregation
# ----------------------------------------------------------------------
def seed_options(cfg: Config, seed: int) -> List[str]:
    """``randomness.seed`` and the width samplers' seed."""
    return [f'randomness.seed={seed}'] + [
        f'custom_hooks.{i}.sampler.seed={seed}'
        for i in hook_indices(cfg, SAMPLER_HOOK)
    ]


def aggregate(values: Sequence[float]) -> Dict[str, float]:
    """Mean, sample standard deviation (0 for one value) and count."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError('aggregate: no values.')
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return dict(mean=statistics.fmean(values), std=std, n=len(values))


def summarize(per_seed: Dict[int, Dict[str, float]],
              seeds: Optional[Sequence[int]] = None) -> Dict[str, dict]:
    """Per width key: ``aggregate`` over the seeds and every seed's value.

    Args:
        per_seed (dict[int, dict[str, float]]): ``{seed: {width: top1}}``.
        seeds (Sequence[int], optional): The seeds of the whole benchmark
            when ``per_seed`` may be partial (``--report`` of unfinished
            runs): a width then aggregates the seeds it has and is marked
            ``partial`` when that is fewer. None: a width missing from
            some seed is refused.

    Returns:
        dict[str, dict]: ``{width: {mean, std, n, values: {seed: top1}}}``
        (plus ``partial: True`` where seeds are missing).
    """
    keys = {k for row in per_seed.values() for k in row}
    out = {}
    for key in sorted(keys, key=float, reverse=True):
        missing = [s for s, row in per_seed.items() if key not in row]
        if missing and seeds is None:
            raise ValueError(f'summarize: width {key} has no result for '
                             f'seeds {missing}.')
        values = {
            s: row[key]
            for s, row in sorted(per_seed.items()) if key in row
        }
        out[key] = dict(aggregate(list(values.values())), values=values)
        if seeds is not None and len(values) < len(seeds):
            out[key]['partial'] = True
    return out


def paired_differences(
        minuend: Dict[int, Dict[str, float]],
        subtrahend: Dict[int, Dict[str, float]],
        seeds: Optional[Sequence[int]] = None) -> Dict[str, dict]:
    """Per width, ``minuend - subtrahend`` of each seed, summarised.

    Runs of one seed share the seed of everything but the width (data
    order, augmentations), so the per-seed difference has less noise than
    the difference of two means.

    Args:
        minuend (dict[int, dict[str, float]]): ``{seed: {width: top1}}``.
        subtrahend (dict[int, dict[str, float]]): The same for the other
            row.
        seeds (Sequence[int], optional): See :func:`summarize`.

    Returns:
        dict[str, dict]: :func:`summarize` of the differences at the widths
        and seeds both rows have.
    """
    diffs: Dict[int, Dict[str, float]] = {}
    for seed in sorted(set(minuend) & set(subtrahend)):
        for key in set(minuend[seed]) & set(subtrahend[seed]):
            diffs.setdefault(seed, {})[key] = (
                minuend[seed][key] - subtrahend[seed][key])
    return summarize(diffs, seeds) if diffs else {}


def cell(value) -> str:
    """A table cell: ``mean +- std`` of a summary, or a plain number.

    One seed has no spread: its cell is the value alone.
    """
    if isinstance(value, dict):
        text = f'{value["mean"]:.2f}'
        if value['n'] > 1:
            text += f' +- {value["std"]:.2f}'
        return text + f' (n={value["n"]})' if value.get('partial') else text
    return f'{value:.2f}'


def table(widths: Sequence[float], rows: Dict[str, Dict[str, object]]) -> str:
    """The rows of per-width top-1 (numbers or summaries) as a Markdown
    table; ``-`` where a row has no model of that width."""
    lines = [
        '| | ' + ' | '.join(f'w={width_label(w)}' for w in widths) + ' |',
        '|---' * (len(widths) + 1) + '|'
    ]
    for label, row in rows.items():
        cells = [
            cell(row[width_key(w)]) if width_key(w) in row else '-'
            for w in widths
        ]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


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


def write_json(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a kill leaves no half file)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(path + '.tmp', path)


def read_json(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def probe(name: str, work_dir: str, checkpoint: str,
          args: argparse.Namespace, options: List[str],
          seconds: Dict[str, float]) -> List[dict]:
    """Per-width probe of ``checkpoint``: train, then test.

    Returns:
        list[dict]: The per-width results (``[{'width': w, metric: value,
        ...}]``) that ``MultiWidthTestLoop`` wrote.
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
    return records[-1]['results']


class Run(NamedTuple):
    """One model of the benchmark (trained once per seed).

    Args:
        name (str): Folder under ``<work-dir>/runs``.
        label (str): Its row in the tables.
        pretrain (list[str]): Pre-training options (seed and data aside).
        probe (list[str]): Probe options (seed and data aside).
        widths (list[float]): Widths its probe reports into the row.
        pretrained_by (str, optional): Another run whose pre-trained
            checkpoint (same seed) this one probes instead of pre-training
            (an ablation of the probe alone).
    """
    name: str
    label: str
    pretrain: List[str]
    probe: List[str]
    widths: List[float]
    pretrained_by: Optional[str] = None


def run_seed(run_: Run, seed: int, args: argparse.Namespace,
             macs: Callable[[float], float],
             train: bool = True) -> Optional[dict]:
    """Pre-train and probe ``run_`` with ``seed``, or load its result.

    An interrupted pre-training resumes from its last checkpoint; a result
    file is written only when the probe has finished. With ``train=False``
    (``--report``, or a seed left to another shell by ``--only-seeds``)
    nothing is trained: None for a run not finished.
    """
    out = osp.join(args.work_dir, 'runs', run_.name, f'seed{seed}')
    result_file = osp.join(out, 'result.json')
    done = read_json(result_file)
    if done is not None or not train:
        if done is not None:
            print(f'==> {run_.name} seed {seed}: done before, '
                  f'{result_file}', flush=True)
        return done
    seconds: Dict[str, float] = {}
    pre_dir = osp.join(out, 'pretrain')
    if run_.pretrained_by is not None:
        pre_dir = osp.join(args.work_dir, 'runs', run_.pretrained_by,
                           f'seed{seed}', 'pretrain')
    pre_cfg = merged_config(args.config, run_.pretrain)
    pretrain_options = run_.pretrain + seed_options(pre_cfg, seed)
    marker = osp.join(pre_dir, 'pretrain_done.json')
    finished = read_json(marker)
    if finished is None and run_.pretrained_by is not None:
        fail(f'{run_.name} seed {seed} probes the checkpoint of '
             f'{run_.pretrained_by}, which has not finished ({marker} is '
             f'missing).')
    if finished is None:
        step = f'pretrain {run_.name} seed {seed}'
        run(step, [
            sys.executable, 'tools/train.py', args.config, '--work-dir',
            pre_dir, '--resume', '--cfg-options', *pretrain_options
        ], seconds)
        finished = dict(checkpoint=last_checkpoint(pre_dir),
                        seconds=seconds[step])
        write_json(marker, finished)
    checkpoint = finished['checkpoint']
    iters = trained_iters(checkpoint)
    cost = training_cost(pre_cfg, iters, macs)
    results = probe(f'{run_.name} seed {seed}', osp.join(out, 'probe'),
                    checkpoint, args, run_.probe + [f'randomness.seed={seed}'],
                    seconds)
    top1 = {
        width_key(r['width']): float(r[METRIC])
        for r in results if float(r['width']) in run_.widths
    }
    result = dict(
        run=run_.name, seed=seed, top1=top1, iters=iters,
        optimizer_steps=cost.steps, train_macs=cost.macs,
        pretrain_seconds=finished['seconds'], probe_seconds=sum(
            s for k, s in seconds.items() if k.startswith('probe')))
    write_json(result_file, result)
    return result


def config_digest(path: str) -> str:
    """SHA-256 of the config at ``path`` with its ``_base_`` files merged
    (the content, not the file name: an edited base file changes it)."""
    text = json.dumps(load_config(path).to_dict(), sort_keys=True,
                      default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def check_settings(work_dir: str, settings: dict,
                   defaults: Optional[dict] = None) -> None:
    """Key ``work_dir`` to ``settings``; refuse a folder of another.

    Args:
        work_dir (str): The benchmark's folder.
        settings (dict): The configuration of this invocation.
        defaults (dict, optional): Values of keys that a folder written
            before the key existed holds implicitly; they are written into
            its ``settings.json`` (and named) when the rest matches.
    """
    path = osp.join(work_dir, 'settings.json')
    old = read_json(path)
    if old is None:
        write_json(path, settings)
        return
    added = sorted(k for k in (defaults or {}) if k not in old)
    old = dict(defaults or {}, **old)
    diff = sorted(k for k in set(old) | set(settings)
                  if old.get(k) != settings.get(k))
    if diff:
        fail(f'{work_dir} holds results of another configuration (differing '
             f'in {", ".join(diff)}: {[old.get(k) for k in diff]} there, '
             f'{[settings.get(k) for k in diff]} now); pass another '
             f'--work-dir. Nothing was changed.')
    if added:
        print(f'{path} predates the keys {added}; recorded them as '
              f'{[old[k] for k in added]}.', flush=True)
        write_json(path, old)


def lock_seeds(work_dir: str, seeds: Sequence[int]) -> List[IO]:
    """Hold ``seeds`` of ``work_dir`` for this process.

    Two benchmarks training one seed in one folder would train the same
    runs side by side and overwrite each other, so the second is refused;
    disjoint seeds (``--only-seeds``) may run side by side. The locks are
    released when the returned files are closed or the process ends (killed
    included, so a stopped benchmark never leaves a seed locked).

    Args:
        work_dir (str): The benchmark's folder (created if missing).
        seeds (Sequence[int]): The seeds this process trains.

    Returns:
        list[IO]: The open lock files; keep them open while training.

    Raises:
        SystemExit: Another process holds one of the seeds (none is then
            held by this one).
    """
    os.makedirs(work_dir, exist_ok=True)
    held: List[IO] = []
    for seed in seeds:
        handle = open(osp.join(work_dir, f'.lock-seed{seed}'), 'a+')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or 'unknown'
            for other in held + [handle]:
                other.close()
            fail(f'seed {seed} of {work_dir} is being trained by another '
                 f'slim_vs_individual.py (pid {holder}); wait for it, watch '
                 f'it with --report, train other seeds with --only-seeds, or '
                 f'pass another --work-dir. Nothing was changed.')
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        held.append(handle)
    return held


def plot(path: str, widths: Sequence[float], rows: Dict[str, dict],
         macs: Callable[[float], float]) -> None:
    """Top-1 (mean, std error bars) against inference MACs per row."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, row in rows.items():
        points = [(macs(w), row[width_key(w)]) for w in widths
                  if width_key(w) in row]
        ax.errorbar([m / 1e6 for m, _ in points],
                    [s['mean'] for _, s in points],
                    yerr=[s['std'] for _, s in points],
                    marker='o', capsize=3, label=label)
    ax.set_xlabel('inference MACs per image (M)')
    ax.set_ylabel('linear probe top-1 (%)')
    ax.set_title('Fashion-MNIST: mean +- std over seeds')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        fail(f'data root {args.data_root!r} does not exist; prepare '
             f'Fashion-MNIST with `python tools/data/prepare_fashion_mnist.py'
             f' --out {args.data_root}` or pass --data-root.')
    family = FAMILIES[args.family]
    if args.tiny:
        args.pretrain_options = family.tiny_pretrain + args.pretrain_options
        probe_cfg = merged_config(args.probe_config, args.probe_options)
        args.probe_options = family.tiny_probe + [
            f'custom_hooks.{i}.num_batches=2'
            for i in hook_indices(probe_cfg, CALIBRATION_HOOK)
        ] + args.probe_options
    pre_cfg = merged_config(args.config, args.pretrain_options)
    probe_cfg = merged_config(args.probe_config, args.probe_options)
    widths = check_widths(args.widths, pre_cfg)
    probe_widths = list(probe_cfg.model.get('widths', ()))
    family_widths = sorted({float(w) for w in probe_widths} | set(widths),
                           reverse=True)
    check_widths(family_widths, probe_cfg)
    if args.report and not osp.isfile(
            osp.join(args.work_dir, 'settings.json')):
        fail(f'--report: {args.work_dir} holds no benchmark (no '
             f'settings.json); run without --report first.')
    digests = dict(config_digest=config_digest(args.config),
                   probe_config_digest=config_digest(args.probe_config))
    check_settings(
        args.work_dir,
        dict(family=args.family, config=osp.relpath(args.config, ROOT),
             probe_config=osp.relpath(args.probe_config, ROOT),
             iters=args.iters, probe_epochs=args.probe_epochs,
             probe_distill_weight=args.probe_distill_weight,
             pretrain_options=args.pretrain_options,
             probe_options=args.probe_options, tiny=args.tiny, **digests),
        # folders of this script before families and digests (2026-12-07)
        defaults=dict(family='us3l', **digests))
    seeds = list(range(args.seeds))
    # --report only reads the runs: it may watch a running benchmark.
    trained = [] if args.report else (
        seeds if args.only_seeds is None else sorted(set(args.only_seeds)))
    locks = lock_seeds(args.work_dir, trained)
    macs = BackboneMACs(pre_cfg)

    pre_common = (data_options(args.data_root, pre_cfg) +
                  args.pretrain_options)
    probe_common = data_options(args.data_root, probe_cfg)
    probe_family = probe_common + probe_options(
        probe_cfg, family_widths, args.probe_epochs,
        args.probe_distill_weight) + args.probe_options

    def family_run(ablation: str = '') -> Run:
        extra_pre, extra_probe, pretrained_by = (
            ablation_options(family, ablation) if ablation else
            ([], [], None))
        extra_pre = hook_options(extra_pre, pre_cfg, 'sampling_hook',
                                 SAMPLER_HOOK)
        extra_probe = hook_options(extra_probe, probe_cfg, 'calibration',
                                   CALIBRATION_HOOK)
        cfg = merged_config(args.config, pre_common + extra_pre)
        # An ablation that sets the training subset itself (untrained) is
        # not capped at --iters.
        schedule = [] if any(o.startswith(SUBSET_KEY + '=')
                             for o in extra_pre) else iters_options(
                                 cfg, args.iters)
        if pretrained_by is not None:
            pretrained_by = '_'.join(filter(None,
                                            [args.family, pretrained_by]))
        return Run('_'.join(filter(None, [args.family, ablation])),
                   f'{family.method} {ablation}' if ablation else
                   family.label,
                   pre_common + schedule + extra_pre,
                   probe_family + extra_probe, family_widths, pretrained_by)

    ablation_runs = [family_run(name) for name in args.ablations]
    runs = [family_run()] + ablation_runs

    def individual_run(width: float, label: str, iters: Optional[int],
                       family_iters: Optional[int] = None) -> Run:
        options = pre_common + individual_options(pre_cfg, width)
        cfg = merged_config(args.config, options)
        schedule = (iters_options(cfg, iters) if family_iters is None else
                    schedule_options(cfg, iters, family_iters))
        folder = 'individual' if family_iters is None else \
            'individual-compute'
        return Run(f'{folder}_w{width_key(width)}', label,
                   options + schedule, probe_common + probe_options(
                       probe_cfg, [width], args.probe_epochs, 0.0) +
                   args.probe_options, [width])

    if 'iterations' in args.fairness:
        runs += [individual_run(w, family.individual, args.iters)
                 for w in widths]
    results: Dict[str, Dict[int, dict]] = {}

    def record(run_: Run, seed: int) -> None:
        result = run_seed(run_, seed, args, macs, train=seed in trained)
        if result is not None:
            results.setdefault(run_.name, {})[seed] = result

    for seed in seeds:
        for run_ in runs:
            record(run_, seed)

    reference = results.get(args.family, {}).get(seeds[0])
    if 'compute' in args.fairness and reference is None and trained:
        print(f'==> equal compute: skipped, its budget is the one run\'s '
              f'seed {seeds[0]}, not finished yet; rerun when it is.',
              flush=True)
    if 'compute' in args.fairness and reference is not None:
        # The one run's training MACs, split evenly among the widths.
        budget = reference['train_macs'] / len(widths)
        for width in widths:
            options = pre_common + individual_options(pre_cfg, width)
            cfg = merged_config(args.config, options)
            per_iter = training_cost(cfg, 1, macs).macs
            iters = int(budget // per_iter)
            if iters < 1:
                fail(f'equal compute: width {width} gets {budget:.3g} MACs, '
                     f'less than one iteration ({per_iter:.3g}); raise '
                     f'--iters.')
            run_ = individual_run(width, f'{family.individual}, equal '
                                  f'compute', iters,
                                  reference['iters'])
            runs.append(run_)
            for seed in seeds:
                record(run_, seed)

    # Rows: every run's per-width top-1 over the seeds.
    if not results:
        fail(f'{args.work_dir} holds no finished run of this configuration '
             f'yet; run without --report first.')
    partial = seeds if len(trained) < len(seeds) else None
    per_label: Dict[str, Dict[int, Dict[str, float]]] = {}
    for run_ in runs:
        for seed, result in results.get(run_.name, {}).items():
            per_label.setdefault(run_.label, {}).setdefault(
                seed, {}).update(result['top1'])
    rows = {label: summarize(v, partial) for label, v in per_label.items()}
    differences = {
        f'{family.label} - {label}': paired_differences(
            per_label[family.label], per_seed, partial)
        for label, per_seed in per_label.items()
        if label != family.label and family.label in per_label
    }
    # Every ablation against the individual models too: does any setting
    # reach them?
    if family.individual in per_label:
        differences.update({
            f'{run_.label} - {family.individual}': paired_differences(
                per_label[run_.label], per_label[family.individual], partial)
            for run_ in ablation_runs if run_.label in per_label
        })
    costs = {}
    for run_ in runs:
        if run_.name not in results:
            continue
        seed_results = list(results[run_.name].values())
        costs[run_.name] = dict(
            label=run_.label,
            iters=seed_results[0]['iters'],
            optimizer_steps=seed_results[0]['optimizer_steps'],
            train_macs=seed_results[0]['train_macs'],
            pretrain_seconds=aggregate(
                [r['pretrain_seconds'] for r in seed_results]))
    png = osp.join(args.work_dir, 'slim_vs_individual.png')
    plot(png, family_widths, rows, macs)

    cost_lines = ['| run | row | iterations | optimizer steps | training '
                  'MACs (G) | pre-training wall time (s) |',
                  '|---|---|---|---|---|---|']
    for name, c in costs.items():
        cost_lines.append(
            f'| {name} | {c["label"]} | {c["iters"]} | '
            f'{c["optimizer_steps"]:.0f} | {c["train_macs"] / 1e9:.4g} | '
            f'{c["pretrain_seconds"]["mean"]:.0f} |')
    print('\n'.join([
        '', f'Fashion-MNIST, per-width linear probe (frozen backbone, BN '
        f'statistics per width), test top-1 (%), mean +- std over seeds '
        f'{seeds}:', '',
        table(family_widths, rows), '', 'Differences in points, paired by '
        'seed (mean +- std of the per-seed differences):', '',
        table(family_widths, differences), '',
        'Training cost (per seed; optimizer '
        'steps and MACs expected over the random widths):', '',
        '\n'.join(cost_lines)
    ]))
    summary = dict(
        family=args.family,
        config=args.config,
        probe_config=args.probe_config,
        seeds=seeds,
        widths=widths,
        family_probe_widths=family_widths,
        fairness=args.fairness,
        ablations=args.ablations,
        metric=METRIC,
        top1=rows,
        paired_differences=differences,
        costs=costs,
        probe_distill_weight=args.probe_distill_weight,
        pretrain_options=args.pretrain_options,
        probe_options=args.probe_options,
        plot=png)
    path = osp.join(args.work_dir, 'slim_vs_individual.json')
    write_json(path, summary)
    print(f'\nsaved {path} and {png}')
    for lock in locks:
        lock.close()


if __name__ == '__main__':
    main()
