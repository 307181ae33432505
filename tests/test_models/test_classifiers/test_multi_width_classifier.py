# Copyright (c) slim_plugins contributors. All rights reserved.
"""MultiWidthImageClassifier: calibrated BN per width, strict pretrained
loading, and the per-width linear probe through tools/train.py and
tools/test.py."""
import copy
import json
import os
import os.path as osp
from typing import Dict, List

import pytest
import torch
from conftest import (REPO_ROOT, TEST_CONFIGS, run_tool,
                      write_tiny_fashion_mnist)
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

import slim_plugins  # noqa: F401
from slim_plugins.models.backbones import SlimResNet
from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               calibrate_bn)
from slim_plugins.utils.checkpoint import load_checkpoint_file

WIDTHS = (1.0, 0.75, 0.5, 0.25)
# Tiny tensors gain nothing from threads, and on a loaded machine OpenMP
# threads waiting for each other make a 10 ms forward take seconds.
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS='1')
TINY = dict(
    depth=18, stem='imagenet', in_channels=1, stem_channels=8,
    base_channels=8)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model_cfg(frozen: bool = True,
               init_cfg=None,
               norm_eval: bool = False,
               **kwargs) -> dict:
    backbone = dict(
        type='SlimResNet',
        frozen_stages=4 if frozen else -1,
        norm_eval=norm_eval,
        **TINY)
    if init_cfg is not None:
        backbone['init_cfg'] = init_cfg
    cfg = dict(
        type='MultiWidthImageClassifier',
        widths=WIDTHS,
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='SwitchableLinearClsHead',
            num_classes=3,
            in_channels=64,
            widths=WIDTHS),
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            num_classes=3,
            mean=[128.],
            std=[64.],
            to_rgb=False))
    cfg.update(kwargs)
    return cfg


def _model(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(**kwargs))
    model.init_weights()
    return model.train()


def _batch(seed: int = 0, size: int = 4) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[
            torch.randint(0, 256, (1, 32, 32), generator=gen,
                          dtype=torch.uint8) for _ in range(size)
        ],
        data_samples=[
            DataSample().set_gt_label(i % 3) for i in range(size)
        ])


def _calibrate(model) -> None:
    batches = [_batch(seed) for seed in (10, 11)]

    def forward(batch):
        model.backbone(model.data_preprocessor(batch, False)['inputs'])

    calibrate_bn(model.backbone, batches, forward, WIDTHS, num_batches=2)


def _sgd(model) -> OptimWrapper:
    return OptimWrapper(
        torch.optim.SGD(
            [p for p in model.parameters() if p.requires_grad], lr=0.1))


def _backbone_state(model) -> Dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.backbone.state_dict().items()}


def test_frozen_universal_backbone_needs_calibration():
    model = _model()
    with pytest.raises(ValueError,
                       match='calibrated BN statistics.*before_train=True'):
        model.train_step(_batch(), _sgd(model))


def test_each_width_trains_on_its_calibrated_statistics():
    model = _model()
    _calibrate(model)
    # Large classifier weights make the loss sensitive to the features.
    for fc in model.head.fcs.values():
        torch.nn.init.normal_(fc.weight, std=1.0)
    reference = copy.deepcopy(model)
    before = _backbone_state(model)
    batch = _batch()
    log_vars = model.train_step(batch, _sgd(model))

    # Reference: load each width's statistics by hand, then the same head.
    data = reference.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    raw = {}
    for width in WIDTHS:
        with using_width(reference, width), torch.no_grad():
            head_loss = reference.head.loss(
                reference.neck(reference.backbone(inputs)), samples)
            raw[width] = sum(head_loss.values()).item()
            apply_calibrated_stats(reference.backbone, width)
            head_loss = reference.head.loss(
                reference.neck(reference.backbone(inputs)), samples)
        expected = sum(head_loss.values())
        got = log_vars[f'loss@w{width:g}']
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # The statistics matter: another width's statistics give other losses.
    assert any(
        abs(raw[w] - log_vars[f'loss@w{w:g}'].item()) > 1e-3
        for w in WIDTHS[1:])
    # Frozen backbone: weights and BN buffers are exactly as before.
    for key, value in _backbone_state(model).items():
        assert torch.equal(value, before[key]), key
    assert model.backbone.width == 1.0 and model.head.width == 1.0


def test_prediction_uses_calibrated_statistics():
    model = _model()
    _calibrate(model)
    model.eval()
    reference = copy.deepcopy(model)
    before = _backbone_state(model)
    inputs = model.data_preprocessor(_batch(), False)['inputs']
    with using_width(model, 0.5):
        feats = model.extract_feat(inputs)
        preds = model.predict(inputs)
    with using_width(reference, 0.5):
        apply_calibrated_stats(reference.backbone, 0.5)
        expected = reference.neck(reference.backbone(inputs))
    torch.testing.assert_close(feats[0], expected[0])
    assert len(preds) == 4
    for key, value in _backbone_state(model).items():
        assert torch.equal(value, before[key]), key


def test_fine_tuning_with_frozen_bn_statistics():
    """norm_eval: trainable convs around eval-mode shared BNs."""
    model = _model(frozen=False, norm_eval=True)
    _calibrate(model)
    before = _backbone_state(model)
    model.train_step(_batch(), _sgd(model))
    # The backward ran after each width's statistics were swapped back
    # (buffers are re-bound, not overwritten in place), and it reached the
    # backbone.
    state = _backbone_state(model)
    assert not torch.equal(state['conv1.weight'], before['conv1.weight'])
    for key in ('bn1.running_mean', 'layer4.1.bn2.running_var'):
        assert torch.equal(state[key], before[key]), key


def test_backbone_in_train_mode_needs_no_calibration():
    model = _model(frozen=False)
    log_vars = model.train_step(_batch(), _sgd(model))
    assert set(log_vars) >= {f'loss@w{w:g}' for w in WIDTHS}


def test_widths_must_be_accepted_by_every_module():
    cfg = _model_cfg(widths=(1.0, 0.3))
    with pytest.raises(ValueError, match='not one of the switchable widths'):
        MODELS.build(cfg)


def _save_backbone(path: str, **kwargs) -> Dict[str, torch.Tensor]:
    torch.manual_seed(1)
    backbone = SlimResNet(**{**TINY, **kwargs})
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['head.fcs.1.weight'] = torch.zeros(3, 64)
    torch.save(dict(state_dict=state), path)
    return state


def _pretrained(path: str, prefix: str = 'backbone.') -> dict:
    return dict(type='Pretrained', checkpoint=path, prefix=prefix)


def test_pretrained_backbone_is_loaded_strictly(tmp_path):
    path = str(tmp_path / 'r18.pth')
    state = _save_backbone(path)
    model = _model(init_cfg=_pretrained(path))
    for key, value in model.backbone.state_dict().items():
        if 'bn_calibration' not in key:
            assert torch.equal(value, state[f'backbone.{key}']), key


def test_pretrained_of_another_depth_fails(tmp_path):
    path = str(tmp_path / 'r34.pth')
    _save_backbone(path, depth=34)
    with pytest.raises(ValueError) as info:
        _model(init_cfg=_pretrained(path))
    message = str(info.value)
    assert 'does not fit the backbone SlimResNet' in message
    assert 'unexpected keys' in message and 'layer1.2.conv1.weight' in message
    # Lenient loading is still available.
    _model(init_cfg=_pretrained(path), strict_pretrained=False)


def test_pretrained_of_another_stem_fails(tmp_path):
    path = str(tmp_path / 'cifar.pth')
    _save_backbone(path, stem='cifar')
    with pytest.raises(ValueError, match=r'shape mismatches.*conv1.weight'):
        _model(init_cfg=_pretrained(path))
    with pytest.raises(ValueError, match='no key starting with prefix'):
        _model(init_cfg=_pretrained(path, prefix='encoder_q'))


def test_checkpoint_without_bn_statistics_loads(tmp_path):
    """US3L pre-trains without running statistics; calibration adds them."""
    path = str(tmp_path / 'us3l.pth')
    state = _save_backbone(path, track_running_stats=False)
    assert not any('running_mean' in k for k in state)
    model = _model(init_cfg=_pretrained(path))
    torch.testing.assert_close(model.backbone.conv1.weight,
                               state['backbone.conv1.weight'])


# ----------------------------------------------------------------------
# the probe config through the tools
# ----------------------------------------------------------------------
PROBE = osp.join(TEST_CONFIGS, 'tiny_fashion_mnist_probe.py')
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
TEST = osp.join(REPO_ROOT, 'tools', 'test.py')


def _options(data_root: str, checkpoint: str) -> List[str]:
    return [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ] + [f'model.backbone.init_cfg.checkpoint={checkpoint}']


def test_probe_train_then_test_per_width(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root))
    pretrained = str(tmp_path / 'pretrained.pth')
    _save_backbone(pretrained)
    work_dir = tmp_path / 'work'
    result = run_tool([
        TRAIN, PROBE, '--work-dir',
        str(work_dir), '--cfg-options', *_options(str(data_root), pretrained)
    ],
                      env=ONE_THREAD)
    log = result.stdout + result.stderr
    assert 'BN calibration: width 0.25' in log
    assert 'loss@w0.25' in log
    checkpoint = work_dir / 'epoch_1.pth'
    state = load_checkpoint_file(checkpoint)['state_dict']
    # The calibrated statistics travel with the checkpoint.
    assert any(k.startswith('backbone.bn_calibration.w0_25__') for k in state)

    metrics_file = tmp_path / 'metrics.json'
    result = run_tool([
        TEST, PROBE,
        str(checkpoint), '--work-dir',
        str(work_dir), '--out',
        str(metrics_file), '--out-item', 'metrics', '--cfg-options',
        *_options(str(data_root), pretrained)
    ],
                      env=ONE_THREAD)
    assert 'test results per width' in result.stdout + result.stderr
    metrics = json.loads(metrics_file.read_text())
    for width in ('1', '0.75', '0.5', '0.25'):
        assert 0.0 <= metrics[f'accuracy/top1@w{width}'] <= 100.0
