# Copyright (c) slim_plugins contributors. All rights reserved.
"""Turn a US3L / SlimCLR pretraining checkpoint into an mmdet backbone file.

Two outputs, one per way of putting a slim backbone in a detector:

* ``--width W`` (deployed width): the static ResNet of width ``W``, keys
  ``backbone.*`` of ``slim_plugins.DeployedSlimResNet(depth, width=W,
  channel_rule, stem_channels, base_channels)`` (the printed config). For a
  universally slimmable (US3L, shared-BN) backbone the BN statistics of ``W``
  come from the checkpoint's calibration bank; a width that was never
  calibrated stops the conversion (uncalibrated statistics are a mixture of
  all widths and are never used silently). Switchable BN (SlimCLR) uses the
  private BN of ``W``.
* ``--all-widths`` (slimmable detector): the whole ``SlimResNet`` backbone
  (every switchable BN, the calibration bank), for
  ``slim_plugins.SlimmableMaskRCNN``.

The backbone's architecture comes from ``--config`` (the pretraining
config), else from the config stored in the checkpoint's ``meta['cfg']``
(mmengine runners store it), else it is inferred from the tensors (depth,
stem, channels, switchable widths, channel rule). The tensors are then
loaded strictly: a checkpoint of another architecture stops with the list
of mismatching keys.

Example::

    python tools/model_converters/ssl_to_mmdet.py \\
        work_dirs/slimclr/epoch_200.pth --width 0.5 \\
        --out work_dirs/det/slimclr_backbone_w0.5.pth
    python tools/train.py configs/benchmarks/mmdetection/\\
mask-rcnn_slimresnet50-w0.5_fpn_1x_coco.py \\
        --cfg-options model.backbone.init_cfg.checkpoint=\\
work_dirs/det/slimclr_backbone_w0.5.pth
"""
import argparse
import copy
import os
import os.path as osp
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

import slim_plugins  # noqa: F401
from slim_plugins.models.backbones import DeployedSlimResNet, SlimResNet
from slim_plugins.models.backbones.resnet_base import ARCH_SETTINGS
from slim_plugins.ops import CHANNEL_RULES, get_channel_rule
from slim_plugins.utils import (load_checkpoint_file, load_state_dict_strict,
                                strip_prefix, subnet_state_dict)
from slim_plugins.utils.bn_calibration import (BANK_NAME,
                                               apply_calibrated_stats,
                                               get_bank, needs_calibration)

_BN = (r'(switch_bns\.[0-9_]+\.)?'
       r'(weight|bias|running_mean|running_var|num_batches_tracked)')
RESNET_KEY = re.compile('|'.join([
    r'conv1\.weight',
    rf'bn1\.{_BN}',
    r'layer\d+\.\d+\.conv\d\.weight',
    rf'layer\d+\.\d+\.bn\d\.{_BN}',
    r'layer\d+\.\d+\.downsample\.0\.weight',
    rf'layer\d+\.\d+\.downsample\.1\.{_BN}',
    rf'{BANK_NAME}\.\w+',
]))
MAX_LISTED = 20
# SlimResNet arguments a pretraining config may set (others are irrelevant
# to the weights, e.g. out_indices, frozen_stages, init_cfg).
ARCH_KEYS = ('depth', 'stem', 'stem_padding', 'in_channels', 'stem_channels',
             'base_channels', 'width_mode', 'width_range', 'widths',
             'channel_rule', 'track_running_stats', 'strides')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a US3L/SlimCLR pretraining checkpoint into a '
        'backbone checkpoint for mmdet (slim_plugins detectors).')
    parser.add_argument('checkpoint', help='pretraining checkpoint whose '
                        'backbone is a SlimResNet')
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument('--width', type=float,
                        help='deployed width to export, e.g. 0.5')
    target.add_argument('--all-widths', action='store_true',
                        help='keep the slimmable backbone (for '
                        'SlimmableMaskRCNN)')
    parser.add_argument('--out', required=True, help='output .pth file')
    parser.add_argument('--config', help='pretraining config (default: the '
                        "checkpoint's meta['cfg'], else inferred from the "
                        'tensors)')
    parser.add_argument('--prefix', default='backbone.',
                        help='key prefix of the backbone in the checkpoint '
                        "and in the output (default 'backbone.')")
    return parser.parse_args(argv)


def _listed(keys: Sequence[str]) -> str:
    keys = list(keys)
    more = len(keys) - MAX_LISTED
    shown = ', '.join(keys[:MAX_LISTED])
    return shown + (f' ... (+{more} more)' if more > 0 else '')


def read_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Return ``(state_dict, meta)`` of an mmengine (or plain) checkpoint."""
    if not osp.isfile(path):
        raise ValueError(f'checkpoint {path!r} does not exist.')
    loaded = load_checkpoint_file(path)
    if not isinstance(loaded, dict):
        raise ValueError(f'{path} holds a {type(loaded).__name__}, not a '
                         'state dict.')
    state_dict = loaded.get('state_dict', loaded)
    meta = loaded.get('meta', {}) if 'state_dict' in loaded else {}
    return state_dict, meta if isinstance(meta, dict) else {}


def select_backbone(state_dict: Dict[str, torch.Tensor], prefix: str,
                    source: str) -> Dict[str, torch.Tensor]:
    """The backbone tensors (prefix removed); every key must be ResNet's."""
    selected = strip_prefix(state_dict, prefix)
    if not selected:
        raise ValueError(
            f'{source} has no key starting with {prefix!r} (first keys: '
            f'{_listed(list(state_dict)[:5])}); pass the backbone prefix '
            'with --prefix.')
    foreign = [k for k in selected if not RESNET_KEY.fullmatch(k)]
    if foreign:
        raise ValueError(
            f'{source} is not a SlimResNet checkpoint: {len(foreign)} of its '
            f'{len(selected)} {prefix}* keys do not belong to a (slimmable) '
            f'ResNet: {_listed(foreign)}. This tool converts US3L/SlimCLR '
            'SlimResNet backbones.')
    return selected


def _width_from_key(key: str) -> float:
    """``'0_75'`` (switchable BN key) or ``'w0_75'`` (bank tag) -> 0.75."""
    return float(key.lstrip('w').replace('_', '.'))


def _rule_evidence(state: Dict[str, torch.Tensor]
                   ) -> List[Tuple[int, float, int]]:
    """``(full channels, width, channels)`` of every per-width BN tensor."""
    evidence = []
    for key, value in state.items():
        match = re.fullmatch(r'(.+)\.switch_bns\.([0-9_]+)\.running_mean',
                             key) or re.fullmatch(
                                 r'(.+)\.switch_bns\.([0-9_]+)\.weight', key)
        if match:
            full = state.get(f'{match[1]}.weight',
                             state.get(f'{match[1]}.running_mean'))
            if full is not None:
                evidence.append((full.shape[0], _width_from_key(match[2]),
                                 value.shape[0]))
            continue
        match = re.fullmatch(rf'{BANK_NAME}\.(w[0-9_]+)__(.+)__running_mean',
                             key)
        if match:
            full = state.get(match[2].replace('__', '.') + '.running_mean')
            if full is not None:
                evidence.append((full.shape[0], _width_from_key(match[1]),
                                 value.shape[0]))
    return evidence


def infer_backbone_cfg(state: Dict[str, torch.Tensor],
                       source: str) -> Dict[str, Any]:
    """SlimResNet arguments that reproduce the tensors of ``state``.

    Args:
        state (dict[str, Tensor]): Backbone state dict (no prefix).
        source (str): Name of the checkpoint in error messages.

    Returns:
        dict: Keyword arguments of :class:`SlimResNet`.
    """
    for key in ('conv1.weight', 'layer1.0.conv1.weight'):
        if key not in state:
            raise ValueError(f'{source}: backbone key {key!r} is missing, so '
                             'this is not a SlimResNet checkpoint.')
    bottleneck = 'layer1.0.conv3.weight' in state
    blocks = []
    for stage in range(1, 5):
        indices = {
            int(m[1])
            for m in (re.match(rf'layer{stage}\.(\d+)\.', k) for k in state)
            if m
        }
        blocks.append(len(indices))
    depth = next((d for d, (block, layout) in ARCH_SETTINGS.items()
                  if layout == tuple(blocks) and (block.expansion == 4)
                  == bottleneck), None)
    if depth is None:
        raise ValueError(f'{source}: {blocks} blocks per stage '
                         f'({"bottleneck" if bottleneck else "basic"} '
                         'blocks) match no ResNet depth '
                         f'{sorted(ARCH_SETTINGS)}.')
    stem_weight = state['conv1.weight']
    switch_widths = sorted(
        {
            _width_from_key(m[1])
            for m in (re.search(r'\.switch_bns\.([0-9_]+)\.', k)
                      for k in state) if m
        },
        reverse=True)
    cfg: Dict[str, Any] = dict(
        depth=depth,
        stem='imagenet' if stem_weight.shape[-1] == 7 else 'cifar',
        in_channels=stem_weight.shape[1],
        stem_channels=stem_weight.shape[0],
        base_channels=state['layer1.0.conv1.weight'].shape[0],
        track_running_stats='bn1.running_mean' in state)
    if switch_widths:
        cfg.update(width_mode='switchable', widths=[1.0] + switch_widths)
    else:
        cfg.update(width_mode='universal')
    evidence = _rule_evidence(state)
    rules = [
        name for name in sorted(CHANNEL_RULES)
        if all(CHANNEL_RULES[name](full, w) == c for full, w, c in evidence)
    ]
    if not rules:
        raise ValueError(f'{source}: the per-width BN shapes fit no channel '
                         f'rule of {sorted(CHANNEL_RULES)}; pass the '
                         'pretraining config with --config.')
    # Several rules fit: they agree on every width the checkpoint holds.
    cfg['channel_rule'] = 'divisible8' if 'divisible8' in rules else rules[0]
    if evidence:
        low = min(w for _, w, _ in evidence)
        cfg['width_range'] = (min(low, 0.25), 1.0)
    return cfg


def _backbone_cfg_of(cfg: Config) -> Optional[dict]:
    model = cfg.get('model', {})
    backbone = model.get('backbone', None)
    if backbone is None or not str(backbone.get('type', '')).endswith(
            'SlimResNet'):
        return None
    return {k: copy.deepcopy(v) for k, v in backbone.items() if k in ARCH_KEYS}


def config_backbone_cfg(config: Optional[str],
                        meta: dict) -> Tuple[Optional[dict], str]:
    """SlimResNet arguments from ``--config`` or the checkpoint's meta."""
    if config is not None:
        cfg = _backbone_cfg_of(Config.fromfile(config))
        if cfg is None:
            raise ValueError(f'{config}: model.backbone is not a SlimResNet; '
                             'pass the pretraining config of the checkpoint.')
        return cfg, config
    text = meta.get('cfg')
    if isinstance(text, str):
        try:
            cfg = _backbone_cfg_of(Config.fromstring(text, '.py'))
        except Exception:  # an unparsable stored config: infer instead
            cfg = None
        if cfg is not None:
            return cfg, "the checkpoint's meta['cfg']"
    return None, 'the checkpoint tensors'


def build_slim_backbone(state: Dict[str, torch.Tensor], cfg: Dict[str, Any],
                        source: str) -> SlimResNet:
    """Build the SlimResNet and load ``state`` strictly."""
    backbone = SlimResNet(**cfg)
    load_state_dict_strict(backbone, state, source=source)
    return backbone.eval()


def deployed_kwargs(backbone: SlimResNet, width: float) -> Dict[str, Any]:
    """Arguments of the DeployedSlimResNet equal to ``backbone`` at width."""
    stem_padding = backbone.stem_padding
    if stem_padding == (1 if backbone.stem == 'cifar' else 3):
        stem_padding = None
    kwargs = dict(
        depth=backbone.depth,
        width=width,
        channel_rule=backbone.channel_rule,
        stem=backbone.stem,
        in_channels=backbone.in_channels,
        stem_channels=backbone.channels.stem,
        base_channels=backbone.channels.mid[0],
        strides=list(backbone.strides))
    if stem_padding is not None:
        kwargs['stem_padding'] = stem_padding
    return kwargs


def export_width(backbone: SlimResNet, width: float,
                 source: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Tensors and DeployedSlimResNet arguments of ``backbone`` at width.

    Raises:
        ValueError: For a shared-BN backbone whose checkpoint holds no
            calibrated statistics of ``width``.
    """
    allowed = backbone.width_state.widths
    if allowed is not None and not any(
            abs(width - w) < 1e-6 for w in allowed):
        raise ValueError(
            f'{source}: width={width:g} has no switchable BN in this '
            f'checkpoint, which was trained at the widths {list(allowed)}; '
            'choose one of them with --width.')
    width = backbone.width_state.check(width)
    bank = get_bank(backbone)
    calibrated = bank is not None and bank.has(width)
    if backbone.width_mode == 'universal' and not calibrated:
        held = bank.widths() if bank is not None else []
        if not backbone.track_running_stats:
            reason = ('its BN layers keep no running statistics '
                      '(track_running_stats=False, US3L pretraining)')
        else:
            reason = ('its shared BN statistics mix all widths'
                      if needs_calibration(backbone) else 'it has none')
        raise ValueError(
            f'{source}: width={width:g} has no calibrated BN statistics '
            f'(calibrated widths: {held or "none"}), and {reason}. '
            'Calibrate that width first (BNCalibrationHook(widths=[...]) or '
            'slim_plugins.utils.bn_calibration.calibrate_bn on a backbone '
            'with track_running_stats=True), save the checkpoint, and '
            'convert again.')
    if calibrated:
        apply_calibrated_stats(backbone, width)
    state = {
        k: v
        for k, v in subnet_state_dict(backbone, width).items()
        if not k.startswith(BANK_NAME + '.')
    }
    kwargs = deployed_kwargs(backbone, width)
    # Self-check: the detector's backbone takes these tensors strictly.
    load_state_dict_strict(
        DeployedSlimResNet(**kwargs), state, source=f'{source} at {width:g}')
    return state, kwargs


def to_plain(value: Any) -> Any:
    """Tuples -> lists, recursively (weights_only-safe metadata)."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def convert(checkpoint: str,
            out: str,
            width: Optional[float] = None,
            config: Optional[str] = None,
            prefix: str = 'backbone.') -> dict:
    """Convert ``checkpoint`` and write ``out``; return the written meta.

    Args:
        checkpoint (str): Pretraining checkpoint.
        out (str): Output file.
        width (float, optional): Deployed width; None keeps all widths.
        config (str, optional): Pretraining config.
        prefix (str): Backbone key prefix. Defaults to ``'backbone.'``.

    Returns:
        dict: The ``meta`` of the written file.
    """
    state_dict, meta = read_checkpoint(checkpoint)
    state = select_backbone(state_dict, prefix, checkpoint)
    cfg, origin = config_backbone_cfg(config, meta)
    if cfg is None:
        cfg = infer_backbone_cfg(state, checkpoint)
    backbone = build_slim_backbone(state, cfg, checkpoint)
    print(f'SlimResNet-{backbone.depth} ({backbone.width_mode}, rule '
          f'{backbone.channel_rule}, {backbone.stem} stem) from {origin}')
    info = dict(
        source_checkpoint=osp.abspath(checkpoint),
        architecture_from=origin,
        slim_resnet=to_plain(dict(cfg, type='SlimResNet')))
    if width is None:
        tensors = backbone.state_dict()
        info.update(
            widths='all',
            backbone=to_plain(dict(cfg, type='slim_plugins.SlimResNet')))
    else:
        tensors, kwargs = export_width(backbone, width, checkpoint)
        table = DeployedSlimResNet(**kwargs).channels
        info.update(
            width=float(width),
            backbone=to_plain(
                dict(type='slim_plugins.DeployedSlimResNet', **kwargs)),
            stage_channels=list(table.out))
        rule = get_channel_rule(backbone.channel_rule)
        assert table.out == tuple(
            rule(c, width) for c in backbone.channels.out)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(
        {
            'state_dict': {prefix + k: v.contiguous()
                           for k, v in tensors.items()},
            'meta': info
        }, out)
    return info


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        info = convert(args.checkpoint, args.out,
                       None if args.all_widths else args.width, args.config,
                       args.prefix)
    except ValueError as e:
        sys.exit(f'error: {e}')
    backbone = dict(info['backbone'])
    backbone['init_cfg'] = dict(
        type='Pretrained',
        checkpoint=osp.abspath(args.out),
        prefix='backbone.')
    print(f'wrote {args.out}')
    if 'stage_channels' in info:
        print(f'stage channels {info["stage_channels"]} (the neck '
              'in_channels follow automatically in DeployedMaskRCNN)')
    print(f'backbone config:\n  backbone={backbone}')


if __name__ == '__main__':
    main()
