# Copyright (c) slim_plugins contributors. All rights reserved.
"""Which gated channels are always off, always on or data-dependent.

Runs the gated path of a Unification checkpoint (eval mode, deterministic
gates) over the images of the config's ``test_dataloader`` (or the first
``--max-images``) and counts, per block, the channels that no image turned
on, that every image turned on and the rest. Much of a gated network's
saving is static pruning in disguise (the always-off channels);
``tools/model_converters/export_gated.py`` removes those.

Writes ``gate_report.{md,json,png}`` into ``--out-dir``.

Example::

    python tools/analysis_tools/gate_report.py \\
        configs/unification/benchmarks/gated-resnet18_knn_fashion-mnist.py \\
        work_dirs/unification/epoch_1.pth --out-dir work_dirs/gate_report
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import DictAction

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
from gated_tool_utils import build_gated_model  # noqa: E402
from gated_tool_utils import preprocessed_batches  # noqa: E402
from tool_utils import checkpoint_loading, load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Always-off / always-on / data-dependent channels of '
        'a gated network, per block.')
    parser.add_argument('config', help='config with the gated model and a '
                        'test_dataloader')
    parser.add_argument('checkpoint', help='checkpoint of that model')
    parser.add_argument('--max-images', type=int, default=None,
                        help='use the first N images (default: all)')
    parser.add_argument('--out-dir', default='work_dirs/gate_report')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        parser.error(f'--max-images {args.max_images} must be >= 1.')
    return args


def usage_rows(usage) -> List[dict]:
    """One row per block: channel counts of each kind and mean density."""
    rows = []
    for index, counts in enumerate(usage.on_counts):
        channels = counts.numel()
        rows.append(
            dict(
                block=index,
                channels=channels,
                always_off=int(usage.always_off(index).sum()),
                always_on=int(usage.always_on(index).sum()),
                data_dependent=int(usage.data_dependent(index).sum()),
                mean_density=float(counts.sum()) /
                (channels * usage.num_images)))
    return rows


def markdown(rows: List[dict], num_images: int) -> str:
    lines = [
        f'Gated path, eval mode, {num_images} images.', '',
        '| block | channels | always off | always on | data-dependent | '
        'mean density |', '|---|---|---|---|---|---|'
    ]
    for r in rows:
        lines.append(f'| {r["block"]} | {r["channels"]} | {r["always_off"]} '
                     f'| {r["always_on"]} | {r["data_dependent"]} | '
                     f'{r["mean_density"]:.3f} |')
    return '\n'.join(lines)


def plot(path: str, rows: List[dict]) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.5))
    names = [f'block {r["block"]}' for r in rows]
    left = [0.0] * len(rows)
    kinds = (('always_off', 'tab:gray'), ('always_on', 'tab:blue'),
             ('data_dependent', 'tab:orange'))
    for key, colour in kinds:
        share = [r[key] / r['channels'] for r in rows]
        ax.barh(names, share, left=left, color=colour,
                label=key.replace('_', ' '))
        left = [a + b for a, b in zip(left, share)]
    ax.invert_yaxis()
    ax.set_xlabel('fraction of the block\'s intermediate channels')
    ax.legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    import slim_plugins  # noqa: F401
    from slim_plugins.evaluation.metrics import find_gated_backbone
    from slim_plugins.models.utils import collect_gate_usage
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with checkpoint_loading():
        model = build_gated_model(cfg, args.checkpoint)
    usage = collect_gate_usage(
        find_gated_backbone(model),
        (inputs for inputs, _ in preprocessed_batches(
            model, cfg, 'test_dataloader', args.max_images)))
    rows = usage_rows(usage)
    text = markdown(rows, usage.num_images)
    os.makedirs(args.out_dir, exist_ok=True)
    out = osp.join(args.out_dir, 'gate_report')
    with open(out + '.md', 'w') as f:
        f.write(text + '\n')
    with open(out + '.json', 'w') as f:
        json.dump(dict(num_images=usage.num_images, blocks=rows), f,
                  indent=2)
    plot(out + '.png', rows)
    print(text)
    print(f'\nsaved {out}.md, {out}.json and {out}.png')


if __name__ == '__main__':
    main()
