# Copyright (c) slim_plugins contributors. All rights reserved.
"""Accuracy against MACs per width, from multi-width evaluation results.

Reads the JSON lines that ``MultiWidthValLoop``/``MultiWidthTestLoop``
append to ``<log_dir>/multi_width_{val,test}.json`` (one record per
evaluation: ``{"stage", "epoch", "iter", "results": [{"width": w,
"<metric>": value, ...}, ...]}``; the last record is used unless
``--record`` says otherwise; with several records, the best epoch chosen
by the widest width as SlimCLR does is an extra column), computes MACs and
active parameters of each width with
:func:`slim_plugins.models.utils.width_complexity` on the config's backbone,
and
writes to ``--out-dir``:

* ``tradeoff.md``: one markdown table per results file (width, MACs,
  active params and every metric), also printed;
* ``tradeoff.json``: the same numbers, MACs and params exact;
* ``tradeoff.png``: ``--metric`` against MACs, one line per results file.

Example::

    python tools/analysis_tools/plot_tradeoff.py \\
        work_dirs/slim/20240101_000000/multi_width_test.json \\
        work_dirs/individual/multi_width_test.json \\
        --labels slimmable individual --config CONFIG \\
        --input-shape 1 28 28 --out-dir work_dirs/tradeoff
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

# tools/ is not a package: reach the shared tool helpers by path.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from tool_utils import fail, load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Accuracy vs MACs per width from multi-width results.')
    parser.add_argument('results', nargs='+',
                        help='multi_width_{val,test}.json files')
    parser.add_argument('--config', required=True,
                        help='config whose model.backbone is a SlimResNet')
    parser.add_argument('--input-shape', type=int, nargs=3, default=None,
                        metavar=('C', 'H', 'W'),
                        help='input of one image (default: the backbone\'s '
                        'in_channels and 32x32 for the cifar stem, 224x224 '
                        'otherwise)')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='also count a linear classifier with this many '
                        'outputs')
    parser.add_argument('--labels', nargs='+', default=None,
                        help='legend label of each results file')
    parser.add_argument('--metric', default=None,
                        help='metric plotted (default accuracy/top1, else '
                        'the first metric with "top1" in its name)')
    parser.add_argument('--record', type=int, default=-1,
                        help='which record of each file (default -1: the '
                        'last evaluation)')
    parser.add_argument('--out-dir', required=True,
                        help='folder for tradeoff.{md,json,png}')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def read_records(path: str) -> List[dict]:
    """Every evaluation record of a multi-width JSON file, in order."""
    if not osp.isfile(path):
        fail(f'results file {path!r} does not exist.')
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    try:
        records = [json.loads(line) for line in lines]
    except json.JSONDecodeError as e:
        fail(f'{path} is not JSON lines ({e}); pass the '
             f'multi_width_{{val,test}}.json written by the multi-width '
             f'loops.')
    if not records:
        fail(f'{path} holds no evaluation record.')
    return records


def read_results(path: str, record: int = -1) -> List[Dict[str, float]]:
    """The per-width results of one record of a multi-width JSON file.

    Args:
        path (str): A ``multi_width_{val,test}.json`` file.
        record (int): Index of the record (line). Defaults to -1.

    Returns:
        list[dict]: ``[{'width': w, '<metric>': value, ...}, ...]``.
    """
    records = read_records(path)
    if not -len(records) <= record < len(records):
        fail(f'--record {record}: {path} has {len(records)} records.')
    chosen = records[record]
    results = chosen.get('results') if isinstance(chosen, dict) else None
    if not results or any('width' not in r for r in results):
        fail(f'{path}: record {record} has no "results" list of '
             f'{{"width": ..., metrics}}; pass the multi_width_*.json '
             f'written by MultiWidthValLoop/MultiWidthTestLoop.')
    return results


def best_epoch_results(path: str, metric: str) -> Optional[dict]:
    """The record whose widest width scores best on ``metric``.

    SlimCLR reports the epoch chosen by the full width's top-1 (all widths
    at that epoch); here it is only an extra column next to the last
    epoch, since choosing on the evaluation set inflates the numbers.

    Returns:
        dict | None: ``{'epoch': e, 'values': {width: value}}``, or None
        when the file holds a single record.
    """
    records = read_records(path)
    if len(records) < 2:
        return None

    def widest(record: dict) -> float:
        top = max(record['results'], key=lambda r: float(r['width']))
        return float(top.get(metric, float('-inf')))

    best = max(records, key=widest)
    return dict(
        epoch=best.get('epoch'),
        values={
            float(r['width']): r.get(metric)
            for r in best['results']
        })


def default_labels(paths: Sequence[str]) -> List[str]:
    """Shortest path suffixes (without extension) that tell files apart."""
    parts = [Path(p).with_suffix('').parts for p in paths]
    for n in range(1, max(len(p) for p in parts) + 1):
        labels = ['/'.join(p[-n:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return list(paths)


def choose_metric(results: List[Dict[str, float]],
                  metric: Optional[str]) -> str:
    names = [k for k in results[0] if k != 'width']
    if metric is not None:
        return metric
    if 'accuracy/top1' in names:
        return 'accuracy/top1'
    top1 = [n for n in names if 'top1' in n]
    if top1:
        return top1[0]
    if not names:
        fail('the results hold no metric.')
    return names[0]


def _fmt(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'{value:.2f}'
    return '-' if value is None else str(value)


def markdown_table(label: str, rows: List[dict],
                   metrics: List[str]) -> str:
    """One results file as a markdown table."""
    header = ['width', 'MACs (M)', 'active params (M)'] + metrics
    lines = [
        f'### {label}', '', '| ' + ' | '.join(header) + ' |',
        '|' + '---|' * len(header)
    ]
    for row in rows:
        cells = [
            f'{row["width"]:g}', f'{row["macs"] / 1e6:.3f}',
            f'{row["params"] / 1e6:.3f}'
        ] + [_fmt(row.get(m)) for m in metrics]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.results):
        fail(f'--labels gives {len(args.labels)} labels for '
             f'{len(args.results)} results files.')
    all_results = [read_results(p, args.record) for p in args.results]
    labels = args.labels or default_labels(args.results)
    metric = choose_metric(all_results[0], args.metric)
    for path, results in zip(args.results, all_results):
        if not any(metric in r for r in results):
            fail(f'{path} has no metric {metric!r}; choose --metric among '
                 f'{sorted({k for r in results for k in r} - {"width"})}.')

    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    import slim_plugins  # noqa: F401
    from slim_plugins.models.backbones import SlimResNet
    from slim_plugins.models.utils import width_complexity
    from slim_plugins.registry import MODELS
    backbone_cfg = copy.deepcopy(cfg.model.get('backbone', cfg.model))
    backbone_cfg.pop('init_cfg', None)
    backbone = MODELS.build(backbone_cfg)
    if not isinstance(backbone, SlimResNet):
        fail(f'model.backbone of {args.config} is a '
             f'{type(backbone).__name__}; this tool needs a SlimResNet.')
    shape = tuple(args.input_shape) if args.input_shape else (
        backbone.in_channels,
        *((32, 32) if backbone.stem == 'cifar' else (224, 224)))
    widths = sorted({float(r['width'])
                     for results in all_results for r in results},
                    reverse=True)
    try:
        costs = {
            c.width: c
            for c in width_complexity(backbone, widths, shape,
                                      args.num_classes)
        }
    except (TypeError, ValueError) as e:
        fail(f'{e}')

    scope = 'backbone + fc' if args.num_classes else 'backbone'
    tables = [
        f'# Accuracy vs cost per width\n\nSlimResNet-{backbone.depth}, '
        f'input {"x".join(map(str, shape))}, MACs and params of the '
        f'{scope} at each width (width_complexity).'
    ]
    summary = dict(
        config=args.config, input_shape=list(shape), scope=scope,
        metric=metric, runs=[])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for path, label, results in zip(args.results, labels, all_results):
        rows = []
        for r in sorted(results, key=lambda r: -float(r['width'])):
            cost = costs[float(r['width'])]
            rows.append(dict(r, width=float(r['width']), macs=cost.macs,
                             params=cost.params))
        metrics = [k for k in results[0] if k != 'width']
        best = best_epoch_results(path, metric)
        if best is not None and args.record == -1:
            column = f'{metric} (best epoch {best["epoch"]})'
            for row in rows:
                row[column] = best['values'].get(row['width'])
            metrics.append(column)
        tables.append(markdown_table(label, rows, metrics))
        summary['runs'].append(dict(label=label, file=path, rows=rows))
        points = [(row['macs'] / 1e6, row[metric], row['width'])
                  for row in rows if metric in row]
        ax.plot([p[0] for p in points], [p[1] for p in points], 'o-',
                label=label)
        for x, y, w in points:
            ax.annotate(f'{w:g}', (x, y), textcoords='offset points',
                        xytext=(4, -10), fontsize=7)
    ax.set_xlabel(f'MACs (M), {scope}')
    ax.set_ylabel(metric)
    ax.set_title('Accuracy vs MACs per width')
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()

    os.makedirs(args.out_dir, exist_ok=True)
    text = '\n\n'.join(tables) + '\n'
    print(text)
    with open(osp.join(args.out_dir, 'tradeoff.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out_dir, 'tradeoff.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    png = osp.join(args.out_dir, 'tradeoff.png')
    fig.savefig(png, dpi=120)
    plt.close(fig)
    print(f'saved {png}, tradeoff.md and tradeoff.json in {args.out_dir}')


if __name__ == '__main__':
    main()
