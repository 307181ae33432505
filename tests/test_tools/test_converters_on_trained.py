# Copyright (c) slim_plugins contributors. All rights reserved.
"""The converters on checkpoints that tools/train.py wrote (not synthetic
state dicts): SlimCLR-MoCoV2 (switchable BN) and US3L (shared BN,
calibrated with tools/calibrate_bn.py), loaded strictly by mmdet and
mmpretrain, with the sliced network's outputs."""
import copy
import os
import os.path as osp

import pytest
import torch
from conftest import (REPO_ROOT, TEST_CONFIGS, run_tool,
                      write_tiny_fashion_mnist)
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils import load_state_dict_strict, strip_prefix
from slim_plugins.utils.bn_calibration import apply_calibrated_stats, get_bank
from slim_plugins.utils.checkpoint import load_checkpoint_file

SSL_TO_MMDET = 'tools/model_converters/ssl_to_mmdet.py'
EXPORT = 'tools/model_converters/export_subnet.py'
SLIMCLR = osp.join(TEST_CONFIGS, 'tiny_slimclr_mocov2.py')
US3L = osp.join(REPO_ROOT, 'configs', 'us3l',
                'us3l-simclr_slim-resnet18_1xb64-coslr-1e_fashion-mnist.py')


def _trained_backbone(config: str, checkpoint: str):
    """The SlimResNet of ``config`` with the checkpoint's tensors."""
    backbone_cfg = copy.deepcopy(Config.fromfile(config).model.backbone)
    backbone_cfg.pop('init_cfg', None)
    backbone = MODELS.build(backbone_cfg)
    state = load_checkpoint_file(checkpoint)['state_dict']
    load_state_dict_strict(backbone, strip_prefix(state, 'backbone.'),
                           source=checkpoint)
    return backbone.eval()


def _calibrated_backbone(config: str, checkpoint: str, width: float):
    """The shared-BN SlimResNet of ``config`` (trained without running
    statistics, calibrated with them) evaluating ``width`` with its
    calibrated statistics."""
    backbone_cfg = copy.deepcopy(Config.fromfile(config).model.backbone)
    backbone_cfg.update(track_running_stats=True)
    backbone = MODELS.build(backbone_cfg)
    get_bank(backbone, create=True)
    state = load_checkpoint_file(checkpoint)['state_dict']
    missing, unexpected = backbone.load_state_dict(
        strip_prefix(state, 'backbone.'), strict=False)
    assert not missing and not unexpected
    apply_calibrated_stats(backbone, width)
    return backbone.eval()


def _check_conversions(tmp_path, slim, config, checkpoint, width, x,
                       options):
    with torch.no_grad(), using_width(slim, width):
        expected = slim(x)[-1]

    # mmdet: the deployed width, loaded strictly through init_cfg.
    det_file = str(tmp_path / f'det_w{width}.pth')
    run_tool([SSL_TO_MMDET, checkpoint, '--width', str(width), '--out',
              det_file])
    meta = load_checkpoint_file(det_file)['meta']
    with DefaultScope.overwrite_default_scope('mmdet'):
        deployed = MMDET_MODELS.build(
            dict(
                meta['backbone'],
                out_indices=(3, ),
                init_cfg=dict(
                    type='Pretrained', checkpoint=det_file,
                    prefix='backbone.')))
    deployed.init_weights()  # strict: a missing or extra key raises
    deployed.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            deployed(x)[-1], expected, atol=1e-5, rtol=1e-5)

    # mmpretrain: its own ResNet, every key loaded.
    out_dir = tmp_path / 'export'
    cfg_options = [f'{k}={v}' for k, v in options.items()]
    run_tool([EXPORT, config, checkpoint, '--width', str(width),
              '--out-dir', str(out_dir)] +
             (['--cfg-options', *cfg_options] if cfg_options else []))
    exported = load_checkpoint_file(
        str(out_dir / f'resnet_w{width:g}_mmpretrain.pth'))
    plain = MMPRETRAIN_MODELS.build(exported['meta']['mmpretrain_backbone'])
    missing, unexpected = plain.load_state_dict(
        strip_prefix(exported['state_dict'], 'backbone.'), strict=True)
    assert not missing and not unexpected
    plain.eval()  # mmpretrain's ResNet.train() returns None: no chaining
    with torch.no_grad():
        torch.testing.assert_close(
            plain(x)[-1], expected, atol=1e-5, rtol=1e-5)


# Converters on a trained checkpoint, end to end.
@pytest.mark.slow
def test_slimclr_mocov2_checkpoint(tmp_path, tiny_cifar10):
    work_dir = str(tmp_path / 'slimclr')
    run_tool([
        'tools/train.py', SLIMCLR, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}'
    ])
    checkpoint = osp.join(work_dir, 'epoch_2.pth')
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    slim = _trained_backbone(SLIMCLR, checkpoint)
    _check_conversions(tmp_path, slim, SLIMCLR, checkpoint, 0.5, x, {})


# Converters on a trained checkpoint, end to end.
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_us3l_checkpoint_after_calibration(tmp_path):
    data_root = str(tmp_path / 'fashion')
    os.makedirs(data_root)
    write_tiny_fashion_mnist(data_root, num_train=32, num_test=8)
    options = {'train_dataloader.dataset.data_root': data_root}
    data = [f'{k}={v}' for k, v in options.items()]
    work_dir = str(tmp_path / 'us3l')
    run_tool([
        'tools/train.py', US3L, '--work-dir', work_dir, '--cfg-options',
        *data, 'train_dataloader.batch_size=16',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ])
    trained = osp.join(work_dir, 'epoch_1.pth')
    calibrated = str(tmp_path / 'calibrated.pth')
    run_tool([
        'tools/calibrate_bn.py', US3L, trained, '--widths', '1.0', '0.5',
        '--num-batches', '2', '--out', calibrated, '--cfg-options', *data,
        'train_dataloader.batch_size=16', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False'
    ])
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    slim = _calibrated_backbone(US3L, calibrated, 0.5)
    _check_conversions(tmp_path, slim, US3L, calibrated, 0.5, x, options)
