# Copyright (c) slim_plugins contributors. All rights reserved.
"""MVMR / SlimMVMR: the loss terms recomputed by hand, the sign flag, bad
input, one iteration of both through tools/train.py."""
import glob
import math
import os
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.registry import MODELS

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'mv_mr')
CONFIG = osp.join(CONFIG_DIR,
                  'mvmr_resnet18_1xb64-adam-coslr-1e_fashion-mnist.py')
SLIM_CONFIG = osp.join(
    CONFIG_DIR, 'slim-mvmr_slim-resnet18_1xb64-adam-coslr-1e_fashion-mnist.py')
REPRESENTATIONS = [
    dict(type='PixelRepresentation', scale=1 / 32),
    dict(type='HOGRepresentation', bins=6, pool_size=4),
    dict(type='LocalStdRepresentation'),
]


def _model(**kwargs):
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    cfg = dict(
        type='MVMR',
        backbone=dict(
            type='ResNet', depth=18, in_channels=1, stem_channels=8,
            base_channels=8),
        neck=dict(
            type='NonLinearNeck', in_channels=64, hid_channels=32,
            out_channels=32, num_layers=3, with_bias=False,
            with_last_bn=False, norm_cfg=dict(type='BN1d')),
        representations=REPRESENTATIONS,
        image_size=16,
        in_channels=1)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _views(batch=6):
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 1, 16, 16, generator=gen) for _ in range(2)]


def _dcor(x, z, floor=1e-4):
    # Independent of the package: pairwise distances with torch.cdist.
    def centred(v):
        v = v.flatten(1).double()
        a = torch.cdist(v, v).pow(2).clamp_min(floor).sqrt()
        return a - a.mean(0) - a.mean(1, keepdim=True) + a.mean()

    a, b = centred(x), centred(z)
    return ((a * b).mean().sqrt() /
            ((a * a).mean() * (b * b).mean())**0.25).float()


def test_every_term_against_a_hand_computation():
    model = _model()
    original, augmented = _views()
    losses = model.loss([original, augmented])
    with torch.no_grad():
        z_o, z_a = model.project(original), model.project(augmented)

    def hinge(z):
        return torch.clamp(1 - torch.sqrt(z.var(0) + 1e-4), min=0).mean()

    expected = dict(
        loss_mse=((z_o - z_a)**2).mean(),
        loss_var=hinge(z_a) + hinge(z_o),
        loss_dcor_view=1 - _dcor(z_o / 32, z_a / 32))
    reps = dict(
        pixel=original / 32,
        hog=MODELS.build(REPRESENTATIONS[1])(original),
        localstd=MODELS.build(REPRESENTATIONS[2])(original))
    for name, features in reps.items():
        expected[f'loss_dcor_{name}'] = 1 - _dcor(features, z_a / 32)
    assert sorted(k for k in losses if k.startswith('loss')) == sorted(
        expected)
    for name, value in expected.items():
        torch.testing.assert_close(losses[name].detach(), value, rtol=1e-4,
                                   atol=1e-5)
    assert losses['dcor_hog'] == pytest.approx(
        1 - losses['loss_dcor_hog'].item(), abs=1e-6)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_sign_flag_changes_exactly_the_handcrafted_terms():
    paper = _model().loss(_views())
    code = _model(maximize_repr_dependence=False).loss(_views())
    for name in ('loss_mse', 'loss_var', 'loss_dcor_view', 'dcor_view'):
        torch.testing.assert_close(paper[name], code[name])
    for name in ('pixel', 'hog', 'localstd'):
        torch.testing.assert_close(code[f'dcor_{name}'],
                                   paper[f'dcor_{name}'])
        torch.testing.assert_close(code[f'loss_dcor_{name}'],
                                   1 - paper[f'loss_dcor_{name}'])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown representation 'LBPRep"):
        _model(representations=[dict(type='LBPRepresentation')])
    with pytest.raises(ValueError, match="representation 'hog' cannot take "
                       '1 x 16 x 16 images: .*pool_size=32'):
        _model(representations=[dict(type='HOGRepresentation',
                                     pool_size=32)])
    with pytest.raises(ValueError, match="two representations are named "
                       "'pixel'"):
        _model(representations=[dict(type='PixelRepresentation')] * 2)
    model = _model()
    with pytest.raises(ValueError, match='a batch of 1 image'):
        model.loss(_views(batch=1))
    with pytest.raises(ValueError, match='needs two views'):
        model.loss(_views()[:1])
    with pytest.raises(ValueError, match='dcor_scale=0'):
        _model(dcor_scale=0)
    with pytest.raises(ValueError, match='repr_weight=-1'):
        _model(repr_weight=-1)


def test_representations_stay_float32_under_autocast():
    model = _model()
    views = _views()
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        features = model.representation_features(views[0])
        losses = model.loss(views)
    assert all(f.dtype == torch.float32 for f in features.values())
    assert all(torch.isfinite(v) for v in losses.values())


def test_a_named_representation_keeps_its_name():
    model = _model(representations=[
        dict(type='PixelRepresentation', name='raw'),
        dict(type='slim_plugins.PixelRepresentation', scale=0.5)
    ])
    losses = model.loss(_views())
    assert {'loss_dcor_raw', 'loss_dcor_pixel'} <= set(losses)


def test_slim_step_computes_the_representations_once_for_all_widths():
    cfg = Config.fromfile(SLIM_CONFIG)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    calls = []
    for module in model.representations.values():
        module.register_forward_hook(lambda *args: calls.append(1))
    model.set_train_widths([1.0, 0.5, 0.25])
    gen = torch.Generator().manual_seed(0)
    views = [
        torch.randint(0, 256, (4, 1, 28, 28), generator=gen).float()
        for _ in range(2)
    ]
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    log = model.train_step(dict(inputs=views, data_samples=None), optim)
    assert len(calls) == len(model.representations)
    keys = sorted(k for k in log if k.startswith('loss_dcor_hog@'))
    assert keys == ['loss_dcor_hog@rand1', 'loss_dcor_hog@w0.25',
                    'loss_dcor_hog@w1']
    assert all(math.isfinite(log[k].item()) for k in log)
    assert model._cached_features is None
    # The widest width's terms are plain MV-MR's at that width.
    normalised = model.data_preprocessor(
        dict(inputs=views, data_samples=None), True)['inputs']
    with torch.no_grad():
        plain = model.loss(normalised)
    torch.testing.assert_close(log['loss_dcor_view@w1'],
                               plain['loss_dcor_view'])


def _train_one_epoch(tmp_path, config, *options):
    root = str(tmp_path / 'fashion')
    os.makedirs(root)
    # 10 iterations: the warm-up is the first tenth of the epoch.
    write_tiny_fashion_mnist(root, num_train=40, num_test=4)
    work_dir = str(tmp_path / 'work')
    result = run_tool([
        'tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1', *options
    ])
    return result.stdout + result.stderr, work_dir


def test_one_iteration_through_the_train_tool(tmp_path):
    log, work_dir = _train_one_epoch(tmp_path, CONFIG)
    assert 'Epoch(train) [1][10/10]' in log
    for name in ('loss_mse', 'loss_var', 'loss_dcor_view', 'loss_dcor_hog',
                 'loss_dcor_augmentedpixel', 'dcor_localstd'):
        value = float(log.split(f' {name}: ')[-1].split()[0])
        assert math.isfinite(value), name
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


def test_slim_config_trains_through_the_tool(tmp_path):
    log, _ = _train_one_epoch(tmp_path, SLIM_CONFIG)
    assert 'loss_dcor_pixel@w0.25' in log and 'loss_mse@w1' in log


@pytest.mark.parametrize('config', sorted(
    osp.relpath(p, CONFIG_DIR)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)))
def test_every_config_builds(config):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    init_default_scope('slim_plugins')
    model = MODELS.build(cfg.model)
    if config.startswith('benchmarks'):
        return
    (views, ) = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t.type == 'MultiView']
    assert list(views.num_views) == [1, 1]
    assert views.transforms[0] == [] or 'Crop' in str(views.transforms[0])
    assert model.maximize_repr_dependence == ('code-sign' not in config)


def _learning_rates(config, epoch_length=2):
    """The learning rate at every iteration of the config's schedule."""
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    lr = cfg.optim_wrapper.optimizer.lr
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        cls = dict(LinearLR=LinearLR,
                   CosineAnnealingLR=CosineAnnealingLR)[sched.pop('type')]
        assert sched.pop('convert_to_iter_based')
        schedulers.append(
            cls.build_iter_from_epoch(optimizer, epoch_length=epoch_length,
                                      **sched))
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs * epoch_length):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lr, lrs


def test_paper_schedule_warms_up_then_ends_with_training():
    lr, lrs = _learning_rates(
        'mvmr_resnet50_1xb256-accum8-amp-warmup-coslr-1000e_in1k.py')
    assert lr == 1e-4 and len(lrs) == 2000
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[20] == pytest.approx(1e-4)  # epoch 10
    assert lrs[-1] == pytest.approx(1e-6, abs=1e-9)
    assert lrs[20 + 990] == pytest.approx((1e-4 + 1e-6) / 2, rel=1e-2)


def test_official_horizon_keeps_the_rate_near_its_peak():
    # Accumulation 8 on one GPU: warm-up to epoch 80, 97 % of the peak at
    # the end (cos of (1000 - 80) / 7920 of a half period).
    _, lrs = _learning_rates(
        'mvmr_resnet50_1xb256-accum8-amp-warmup-coslr-1000e_in1k-'
        'official-horizon.py')
    assert lrs[80] == pytest.approx(1e-6 + (1e-4 - 1e-6) * 81 / 160,
                                    rel=2e-2)
    assert lrs[160] == pytest.approx(1e-4)
    expected = 1e-6 + (1e-4 - 1e-6) * (1 + math.cos(
        math.pi * (1999 - 160) / 15840)) / 2
    assert lrs[-1] == pytest.approx(expected, rel=1e-3)
    assert lrs[-1] > 0.96e-4


@pytest.mark.slow
def test_cifar20_recipe_runs_one_amp_iteration(tmp_path):
    # The paper's CIFAR-20 recipe (small-kernel ResNet-50, 8192-wide
    # projector, the five representations with ScatNet, Adam, AMP) on real
    # (tiny) CIFAR-100 pickles: one step of tools/train.py, bfloat16 on CPU.
    pytest.importorskip('kymatio.torch')
    data = str(tmp_path / 'cifar100')
    run_tool([
        'tools/data/make_tiny_cifar.py', '--out', data, '--num-train', '8',
        '--num-test', '4', '--seed', '0', '--cifar100'
    ])
    config = osp.join(
        CONFIG_DIR,
        'mvmr_resnet50-sk_1xb512-amp-warmup-coslr-1000e_cifar20.py')
    result = run_tool([
        'tools/train.py', config, '--amp', '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'sync_bn=None',
        'train_cfg.max_epochs=1', 'param_scheduler.0.end=1',
        'param_scheduler.1.begin=1', 'param_scheduler.1.end=2',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    line = [x for x in log.splitlines() if 'Epoch(train) [1][2/2]' in x]
    assert line and 'loss_dcor_scattering:' in line[0], log[-3000:]
    assert "type='CPUAmpOptimWrapper'" in log
