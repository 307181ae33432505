# Copyright (c) slim_plugins contributors. All rights reserved.
"""ssl_to_mmdet.py: pretraining checkpoint -> mmdet backbone -> Mask R-CNN.
"""
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, load_tool, run_tool
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.models import MobileNetV2

from slim_plugins.models.backbones import DeployedSlimResNet, SlimResNet
from slim_plugins.ops import using_width
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               calibrate_bn)

TOOL = 'tools/model_converters/ssl_to_mmdet.py'
CONFIGS = osp.join(REPO_ROOT, 'configs', 'benchmarks', 'mmdetection')
TINY = osp.join(CONFIGS,
                'mask-rcnn_slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py')
TINY_SLIMMABLE = osp.join(
    CONFIGS, 'mask-rcnn_slimmable-slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py')
SWITCHABLE = dict(
    type='SlimResNet', depth=18, stem='imagenet', stem_channels=16,
    base_channels=16, width_mode='switchable', widths=(1.0, 0.25),
    channel_rule='divisible8', out_indices=(3, ))

converter = load_tool(TOOL)


@pytest.fixture(autouse=True)
def mmdet_scope():
    # mmdet's default scope (and the runners' own scopes) for these tests
    # only: the instances created inside are dropped afterwards.
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def slim_backbone(**kwargs):
    """A tiny SlimResNet whose BN statistics differ per width."""
    cfg = dict(SWITCHABLE, **kwargs)
    cfg.pop('type')
    torch.manual_seed(0)
    net = SlimResNet(**cfg).train()
    widths = cfg.get('widths', (1.0, 0.5)) if cfg.get(
        'width_mode') == 'switchable' else (1.0, 0.5)
    with torch.no_grad():
        for width in widths:
            with using_width(net, width):
                net(torch.randn(4, 3, 32, 32) * width + width)
    return net.eval()


def save_pretrain(path, backbone, cfg_text=None):
    """Save like mmengine's runner: SSL extras next to backbone.*, meta."""
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.mlp.0.weight'] = torch.randn(8, 128)
    state['momentum_encoder.module.0.conv1.weight'] = torch.randn(16, 3, 7, 7)
    meta = dict(epoch=2, iter=10, seed=0, mmengine_version='0.10.7')
    if cfg_text is not None:
        meta['cfg'] = cfg_text
    torch.save({'meta': meta, 'state_dict': state}, path)
    return path


def deployed_from(info, path):
    kwargs = dict(info['backbone'])
    kwargs.pop('type')
    net = DeployedSlimResNet(
        **kwargs, out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    net.init_weights()  # strict: any missing/unexpected key raises
    return net.eval()


def assert_same_output(deployed, slim, width):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(), using_width(slim, width):
        expected = slim(x)[0]
    with torch.no_grad():
        assert torch.allclose(deployed(x)[0], expected, atol=1e-5)


def test_switchable_with_runner_meta_cfg(tmp_path):
    slim = slim_backbone()
    cfg_text = f'model = dict(type="SimCLR", backbone={SWITCHABLE!r})\n'
    ckpt = save_pretrain(str(tmp_path / 'slimclr.pth'), slim, cfg_text)
    out = str(tmp_path / 'w0.25.pth')
    info = converter.convert(ckpt, out, width=0.25)
    assert info['architecture_from'] == "the checkpoint's meta['cfg']"
    assert info['stage_channels'] == [8, 8, 16, 32]
    saved = torch.load(out, weights_only=True)
    assert all(k.startswith('backbone.') for k in saved['state_dict'])
    assert not any('switch_bns' in k for k in saved['state_dict'])
    deployed = deployed_from(info, out)
    assert_same_output(deployed, slim, 0.25)  # the width's private BN
    with pytest.raises(ValueError, match=r'trained at the widths \[1\.0, '
                       r'0\.25\]; choose one of them'):
        converter.convert(ckpt, out, width=0.5)


def test_architecture_inferred_from_tensors(tmp_path):
    # 16 * 0.3 channels: int rule -> 4, divisible-by-8 rule -> 8
    slim = slim_backbone(widths=(1.0, 0.3), channel_rule='int')
    ckpt = save_pretrain(str(tmp_path / 'slimclr.pth'), slim)
    _, meta = converter.read_checkpoint(ckpt)
    state = converter.select_backbone(
        converter.read_checkpoint(ckpt)[0], 'backbone.', ckpt)
    cfg = converter.infer_backbone_cfg(state, ckpt)
    assert cfg['depth'] == 18 and cfg['stem'] == 'imagenet'
    assert (cfg['stem_channels'], cfg['base_channels']) == (16, 16)
    assert cfg['width_mode'] == 'switchable'
    assert cfg['widths'] == [1.0, 0.3] and cfg['channel_rule'] == 'int'
    out = str(tmp_path / 'w0.3.pth')
    info = converter.convert(ckpt, out, width=0.3)
    assert info['architecture_from'] == 'the checkpoint tensors'
    assert_same_output(deployed_from(info, out), slim, 0.3)


def test_universal_uses_calibrated_statistics(tmp_path):
    slim = slim_backbone(width_mode='universal', widths=None)
    batches = [torch.randn(4, 3, 32, 32) for _ in range(2)]
    calibrate_bn(slim, batches, slim, widths=[0.5], num_batches=2)
    ckpt = save_pretrain(str(tmp_path / 'us3l.pth'), slim)
    out = str(tmp_path / 'w0.5.pth')
    info = converter.convert(ckpt, out, width=0.5)
    deployed = deployed_from(info, out)
    apply_calibrated_stats(slim, 0.5)
    assert_same_output(deployed, slim, 0.5)
    # never the uncalibrated (mixed-width) statistics
    with pytest.raises(ValueError, match=r"width=0\.25 has no calibrated BN "
                       r"statistics \(calibrated widths: \['w0_5'\]\)"):
        converter.convert(ckpt, str(tmp_path / 'w0.25.pth'), width=0.25)


def test_universal_without_running_stats_is_refused(tmp_path):
    slim = slim_backbone(width_mode='universal', widths=None,
                         track_running_stats=False)
    ckpt = save_pretrain(str(tmp_path / 'us3l.pth'), slim)
    with pytest.raises(SystemExit) as exit_info:
        converter.main(
            [ckpt, '--width', '0.5', '--out',
             str(tmp_path / 'x.pth')])
    message = str(exit_info.value.code)
    assert message.startswith('error: ')  # sys.exit(str): status 1
    assert 'track_running_stats=False' in message
    assert not (tmp_path / 'x.pth').exists()


def test_other_architecture_lists_keys(tmp_path):
    other = MobileNetV2(widen_factor=0.25)
    ckpt = str(tmp_path / 'mbv2.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in other.state_dict().items()}}, ckpt)
    with pytest.raises(ValueError) as error:
        converter.convert(ckpt, str(tmp_path / 'x.pth'), width=0.5)
    message = str(error.value)
    assert 'is not a SlimResNet checkpoint' in message
    assert 'conv1.conv.weight' in message and 'layer1.0.conv' in message

    # keys of a ResNet, but not of the architecture the config describes
    ckpt = save_pretrain(str(tmp_path / 'r18.pth'), slim_backbone())
    config = tmp_path / 'r34.py'
    config.write_text(
        f'model = dict(backbone={dict(SWITCHABLE, depth=34)!r})\n')
    with pytest.raises(ValueError) as error:
        converter.convert(ckpt, str(tmp_path / 'x.pth'), width=1.0,
                          config=str(config))
    assert 'missing keys' in str(error.value)
    assert 'layer1.2.conv1.weight' in str(error.value)


def test_all_widths_for_the_slimmable_detector(tmp_path, capsys):
    slim = slim_backbone()
    ckpt = save_pretrain(str(tmp_path / 'slimclr.pth'), slim)
    out = str(tmp_path / 'all.pth')
    converter.main([ckpt, '--all-widths', '--out', out])
    assert "'type': 'slim_plugins.SlimResNet'" in capsys.readouterr().out
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['widths'] == 'all'
    assert any('switch_bns.0_25' in k for k in saved['state_dict'])
    cfg = Config.fromfile(TINY_SLIMMABLE)
    cfg.model.backbone.init_cfg.checkpoint = out
    detector = MMDET_MODELS.build(cfg.model)
    detector.init_weights()  # strict
    for key, value in slim.state_dict().items():
        assert torch.equal(detector.backbone.state_dict()[key], value), key


# ---------------------------------------------------------------------
# end to end: pretraining checkpoint -> converter -> train -> test
# ---------------------------------------------------------------------
@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('tiny_coco'))
    load_tool('tools/data/make_tiny_coco.py').make_tiny_coco(
        out, num_train=4, num_val=2, size=(96, 96), seed=0)
    return out


def data_options(root):
    ann = osp.join(root, 'annotations', 'instances_val.json')
    return {
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root,
        'val_evaluator.ann_file': ann,
        'test_evaluator.ann_file': ann,
    }


def tiny_cfg(config, root, work_dir, **options):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(dict(data_options(root), **options))
    cfg.work_dir = work_dir
    cfg.train_cfg.val_interval = 2  # no validation: runner.test() follows
    cfg.launcher = 'none'
    return cfg


def test_pipeline_in_process(tmp_path, tiny_coco):
    width = 0.25  # width 1.0 and the command line: the slow test below
    ckpt = save_pretrain(
        str(tmp_path / 'slimclr.pth'), slim_backbone(out_indices=(0, 1, 2,
                                                                  3)))
    out = str(tmp_path / f'w{width:g}.pth')
    converter.convert(ckpt, out, width=width)
    cfg = tiny_cfg(
        TINY, tiny_coco, str(tmp_path / 'work'), **{
            'model.backbone.width': width,
            'model.backbone.init_cfg.checkpoint': out
        })
    # the detector's backbone after loading == the exported tensors
    detector = MMDET_MODELS.build(cfg.model)
    detector.init_weights()
    exported = torch.load(out, weights_only=True)['state_dict']
    own = detector.backbone.state_dict()
    assert set(own) == {k[len('backbone.'):] for k in exported}
    for key, value in own.items():
        assert torch.equal(value, exported[f'backbone.{key}']), key

    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for name in ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50'):
        assert f'coco/{name}' in metrics


def test_slimmable_pipeline_in_process(tmp_path, tiny_coco):
    ckpt = save_pretrain(
        str(tmp_path / 'slimclr.pth'), slim_backbone(out_indices=(0, 1, 2,
                                                                  3)))
    out = str(tmp_path / 'all.pth')
    converter.convert(ckpt, out, width=None)
    cfg = tiny_cfg(TINY_SLIMMABLE, tiny_coco, str(tmp_path / 'work'),
                   **{'model.backbone.init_cfg.checkpoint': out})
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    for width in ('w1', 'w0.25'):
        assert f'coco/bbox_mAP@{width}' in metrics
        assert f'coco/segm_mAP@{width}' in metrics
    assert osp.isfile(osp.join(runner.log_dir, 'multi_width_test.json'))


@pytest.mark.slow
def test_end_to_end_with_tools(tmp_path, tiny_coco):
    ckpt = save_pretrain(
        str(tmp_path / 'slimclr.pth'), slim_backbone(out_indices=(0, 1, 2,
                                                                  3)))
    options = [f'{k}={v}' for k, v in data_options(tiny_coco).items()]
    for width in (1.0, 0.25):
        out = str(tmp_path / f'w{width:g}.pth')
        run_tool([TOOL, ckpt, '--width', str(width), '--out', out])
        work = str(tmp_path / f'work_w{width:g}')
        run_tool([
            'tools/train.py', TINY, '--work-dir', work, '--cfg-options',
            f'model.backbone.width={width}',
            f'model.backbone.init_cfg.checkpoint={out}', *options
        ])
        result = run_tool([
            'tools/test.py', TINY,
            osp.join(work, 'epoch_1.pth'), '--work-dir', work,
            '--cfg-options', f'model.backbone.width={width}',
            f'model.backbone.init_cfg.checkpoint={out}', *options
        ])
        log = result.stdout + result.stderr
        assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log

    out = str(tmp_path / 'all.pth')
    run_tool([TOOL, ckpt, '--all-widths', '--out', out])
    work = str(tmp_path / 'work_slimmable')
    run_tool([
        'tools/train.py', TINY_SLIMMABLE, '--work-dir', work,
        '--cfg-options', f'model.backbone.init_cfg.checkpoint={out}', *options
    ])
    result = run_tool([
        'tools/test.py', TINY_SLIMMABLE,
        osp.join(work, 'epoch_1.pth'), '--work-dir', work, '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={out}', *options
    ])
    log = result.stdout + result.stderr
    assert 'test results per width' in log
    assert 'coco/bbox_mAP@w0.25' in log and 'coco/segm_mAP@w1' in log
