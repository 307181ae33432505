# Copyright (c) slim_plugins contributors. All rights reserved.
"""Export a gated network without the channels it never uses.

The original Unification network saves no compute: conv1 runs densely and
its output is multiplied by the mask. This tool runs the gated path (eval
mode) over a calibration set (the config's ``calib_dataloader``), removes
every intermediate channel that no calibration image turned on, keeps the
always-on channels without a gate and the gate only for the data-dependent
ones: a :class:`~slim_plugins.models.backbones.PrunedGatedResNet` that
really computes less. It then checks and reports:

* **calibration images**: the largest difference between the exported
  network's and the gated path's last-stage features (0 up to rounding: a
  removed channel was off for all of them);
* **held-out images** (the config's ``test_dataloader``): how often a
  removed channel would have fired (per image-channel pair and per image),
  the MACs of the gated path and of the exported network against the dense
  path, and the kNN top-1 of both (memory: the calibration images and their
  labels; k = 1 euclidean and k = 20).

Writes ``pruned_gated_resnet.pth`` (``backbone.*`` tensors and
``meta.backbone_cfg``, the config of the exported backbone) and
``export_report.json`` into ``--out-dir``.

Example::

    python tools/model_converters/export_gated.py \\
        configs/unification/benchmarks/gated-resnet18_knn_fashion-mnist.py \\
        work_dirs/unification/epoch_1.pth --out-dir work_dirs/export_gated
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import DictAction

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools'))
from gated_tool_utils import build_gated_model  # noqa: E402
from gated_tool_utils import preprocessed_batches  # noqa: E402
from tool_utils import checkpoint_loading, fail, load_config  # noqa: E402

KNN = (dict(k=1, distance='euclidean'), dict(k=20, distance='euclidean'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Remove the channels a calibration set never turns on '
        'from a gated network.')
    parser.add_argument('config', help='config with the gated model, a '
                        'calib_dataloader and a test_dataloader')
    parser.add_argument('checkpoint', help='checkpoint of that model')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--max-calib-images', type=int, default=None)
    parser.add_argument('--max-heldout-images', type=int, default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    for name in ('max_calib_images', 'max_heldout_images'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} {value} must be >= 1.')
    return args


def pooled(features: torch.Tensor) -> torch.Tensor:
    return features.flatten(2).mean(dim=2)


def knn_top1(memory: torch.Tensor, memory_labels: torch.Tensor,
             query: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    from slim_plugins.evaluation.metrics import knn_class_votes
    classes = int(max(memory_labels.max(), labels.max())) + 1
    out = {}
    for cfg in KNN:
        k = min(cfg['k'], memory.shape[0])
        votes = knn_class_votes(query, memory, memory_labels, classes, k,
                                cfg['distance'])
        out[f'top1_k{cfg["k"]}'] = 100.0 * float(
            (votes.argmax(dim=1) == labels).float().mean())
    return out


@torch.no_grad()
def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    import slim_plugins  # noqa: F401
    from slim_plugins.evaluation.metrics import find_gated_backbone
    from slim_plugins.models.backbones import PrunedGatedResNet
    from slim_plugins.models.utils import collect_gate_usage
    from slim_plugins.ops import using_gate_path
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    with checkpoint_loading():
        model = build_gated_model(cfg, args.checkpoint)
    gated = find_gated_backbone(model)

    calib = list(
        preprocessed_batches(model, cfg, 'calib_dataloader',
                             args.max_calib_images, 'calibration'))
    usage = collect_gate_usage(gated, (x for x, _ in calib))
    pruned, backbone_cfg = PrunedGatedResNet.from_gated(gated, usage)

    # Calibration: the exported network computes what the gated path does.
    max_diff = 0.0
    memory, memory_pruned, memory_labels = [], [], []
    with using_gate_path(gated, 'gated'):
        for inputs, labels in calib:
            a = gated(inputs)[-1]
            b = pruned(inputs)[-1]
            max_diff = max(max_diff, float((a - b).abs().max()))
            memory.append(pooled(a))
            memory_pruned.append(pooled(b))
            if labels is not None:
                memory_labels.append(labels)

    # Held-out: removed channels that would fire, MACs, kNN either way.
    removed = [usage.always_off(i) for i in range(len(usage.on_counts))]
    fired_pairs = pairs = fired_images = images = 0
    macs_gated, macs_pruned = [], []
    query, query_pruned, query_labels = [], [], []
    dense_macs = None
    with using_gate_path(gated, 'gated'):
        for inputs, labels in preprocessed_batches(
                model, cfg, 'test_dataloader', args.max_heldout_images,
                'held-out'):
            a = gated(inputs)[-1]
            stats = gated.gate_stats()
            dense_macs = stats.dense_macs
            b = pruned(inputs)[-1]
            fired = torch.zeros(inputs.shape[0], dtype=torch.bool)
            for mask, off in zip(stats.masks, removed):
                hits = mask[:, off] > 0
                fired_pairs += int(hits.sum())
                pairs += hits.numel()
                fired |= hits.any(dim=1)
            fired_images += int(fired.sum())
            images += inputs.shape[0]
            macs_gated.append(stats.macs)
            macs_pruned.append(pruned.macs())
            query.append(pooled(a))
            query_pruned.append(pooled(b))
            if labels is not None:
                query_labels.append(labels)
    if not images:
        fail('the held-out dataloader gave no images.')

    report = dict(
        calibration_images=usage.num_images,
        heldout_images=images,
        mid_channels=backbone_cfg['mid_channels'],
        gated_channels=[len(i) for i in backbone_cfg['gated_index']],
        full_channels=[int(c.numel()) for c in usage.on_counts],
        calibration_max_abs_diff=max_diff,
        removed_fired_pair_percent=100.0 * fired_pairs / max(pairs, 1),
        removed_fired_image_percent=100.0 * fired_images / images,
        dense_macs=dense_macs,
        gated_macs=float(torch.cat(macs_gated).mean()),
        exported_macs=float(torch.cat(macs_pruned).float().mean()))
    report['gated_macs_percent'] = 100 * report['gated_macs'] / dense_macs
    report['exported_macs_percent'] = (100 * report['exported_macs'] /
                                       dense_macs)
    if memory_labels and query_labels:
        mem_labels = torch.cat(memory_labels)
        q_labels = torch.cat(query_labels)
        report['knn_gated'] = knn_top1(
            torch.cat(memory), mem_labels, torch.cat(query), q_labels)
        report['knn_exported'] = knn_top1(
            torch.cat(memory_pruned), mem_labels, torch.cat(query_pruned),
            q_labels)

    os.makedirs(args.out_dir, exist_ok=True)
    checkpoint = osp.join(args.out_dir, 'pruned_gated_resnet.pth')
    torch.save(
        dict(
            state_dict={
                f'backbone.{k}': v
                for k, v in pruned.state_dict().items()
            },
            meta=dict(backbone_cfg=backbone_cfg, source=args.checkpoint)),
        checkpoint)
    with open(osp.join(args.out_dir, 'export_report.json'), 'w') as f:
        json.dump(report, f, indent=2)
    kept = sum(report['mid_channels'])
    total = sum(report['full_channels'])
    lines = [
        f'kept {kept} of {total} intermediate channels '
        f'({sum(report["gated_channels"])} still gated)',
        f'calibration ({usage.num_images} images): max |exported - gated| '
        f'= {max_diff:.2e}',
        f'held-out ({images} images): a removed channel would have fired '
        f'in {report["removed_fired_pair_percent"]:.2f} % of image-channel '
        f'pairs, {report["removed_fired_image_percent"]:.1f} % of images',
        f'MACs per image: dense {dense_macs:.4g}, gated path '
        f'{report["gated_macs"]:.4g} ({report["gated_macs_percent"]:.1f} '
        f'%), exported {report["exported_macs"]:.4g} '
        f'({report["exported_macs_percent"]:.1f} %)',
    ]
    if 'knn_gated' in report:
        lines.append(f'kNN top-1, gated path: {report["knn_gated"]}; '
                     f'exported: {report["knn_exported"]}')
    print('\n'.join(lines))
    print(f'saved {checkpoint} and '
          f'{osp.join(args.out_dir, "export_report.json")}')


if __name__ == '__main__':
    main()
