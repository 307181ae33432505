# Copyright (c) slim_plugins contributors. All rights reserved.
"""US3L: teacher branch, sub-network distillation, GroupReg, configs."""
import copy
import logging
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, TEST_CONFIGS, run_tool
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import OptimWrapper

from slim_plugins.models.losses import (GroupRegLoss, InfoNCEv2DistillLoss,
                                        NegativeCosineLoss)
from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils.checkpoint import load_checkpoint_file

WIDTHS = [1.0, 0.75, 0.5]


def _neck(in_channels, out_channels, **kwargs):
    cfg = dict(
        type='SlimMLPNeck',
        in_channels=in_channels,
        hid_channels=32,
        out_channels=out_channels,
        norm='bn',
        slim_hidden=False)
    cfg.update(kwargs)
    return cfg


def _predictor():
    return _neck(
        16,
        16,
        with_bias=False,
        with_last_bias=True,
        slim_in=False,
        with_avg_pool=False)


def _model(**kwargs):
    torch.manual_seed(0)
    cfg = dict(
        type='US3L',
        backbone=dict(
            type='SlimResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            track_running_stats=False),
        neck=_neck(64, 16, num_layers=3),
        aux_predictor=_predictor(),
        default_widths=WIDTHS)
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    return model


def _batch():
    gen = torch.Generator().manual_seed(3)
    views = [torch.randn(4, 3, 16, 16, generator=gen) for _ in range(2)]
    return dict(inputs=views, data_samples=None)


def _optim(model, lr=0.0, weight_decay=0.0):
    return OptimWrapper(
        torch.optim.SGD(
            model.parameters(), lr=lr, momentum=0.9,
            weight_decay=weight_decay))


def _perturb_teacher(model):
    """Make the EMA copy differ from the student (as after training)."""
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.target_net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def _hand_teacher(model, momentum):
    """The EMA step by hand, on a fresh copy of the student."""
    student = [model.backbone, model.neck]
    teacher = copy.deepcopy(student)
    with torch.no_grad():
        for copy_, old, new in zip(teacher, model.target_net.net, student):
            for (_, t), (_, k), (_, s) in zip(copy_.named_parameters(),
                                              old.named_parameters(),
                                              new.named_parameters()):
                # theta_k' = m theta_k + (1 - m) theta_q
                t.copy_(momentum * k + (1 - momentum) * s)
    return teacher


def _run(modules, view, width=1.0):
    backbone, neck = modules
    with torch.no_grad(), using_width(backbone, width), \
            using_width(neck, width):
        return neck(backbone(view))[0]


def _cross(loss, students, teachers):
    # L = (l(s_1, t_2) + l(s_2, t_1)) / 2
    return 0.5 * (loss(students[0], teachers[1]) +
                  loss(students[1], teachers[0]))


def _count_steps(optim_wrapper):
    calls = [0]
    step = optim_wrapper.optimizer.step

    def counted(*args, **kwargs):
        calls[0] += 1
        return step(*args, **kwargs)

    optim_wrapper.optimizer.step = counted
    return calls


def test_teacher_updated_once_per_iteration_at_full_width():
    model = _model()
    _perturb_teacher(model)
    hand = _hand_teacher(model, 0.99)
    optim = _optim(model, lr=0.5)
    model.train_step(_batch(), optim)
    assert int(model.target_net.num_updates) == 1
    for copy_, expected in zip(model.target_net.net, hand):
        for (name, t), (_, e) in zip(copy_.named_parameters(),
                                     expected.named_parameters()):
            torch.testing.assert_close(t, e, msg=name)
    # the student moved (3 SGD steps), the teacher held width 1.0
    assert not torch.allclose(model.backbone.conv1.weight,
                              hand[0].conv1.weight)
    assert model.target_net.net[0].width_state.width == 1.0


def test_teacher_branch_and_subnet_losses_by_hand():
    model = _model(distill_lambda=0.5)
    _perturb_teacher(model)
    hand = _hand_teacher(model, 0.99)
    batch = _batch()
    views = batch['inputs']
    student = copy.deepcopy([model.backbone, model.neck])
    aux = copy.deepcopy(model.aux_predictor)
    log = model.train_step(batch, _optim(model, lr=0.0))

    targets = [_run(hand, v) for v in views]
    online = [_run(student, v) for v in views]
    base = _cross(InfoNCEv2DistillLoss(temperature=0.5), online, targets)
    torch.testing.assert_close(log['loss_base@w1'], base)
    for width in WIDTHS[1:]:
        with torch.no_grad():
            preds = [aux((_run(student, v, width), ))[0] for v in views]
        distill = 0.5 * _cross(NegativeCosineLoss(), preds, targets)
        torch.testing.assert_close(log[f'loss_distill@w{width:g}'], distill)
        assert f'loss_base@w{width:g}' not in log
    assert 'loss_distill@w1' not in log
    total = log['loss_base@w1'] + log['loss_distill@w0.75'] + \
        log['loss_distill@w0.5']
    torch.testing.assert_close(log['loss'], total)


def test_per_width_mode_steps_once_per_width():
    model = _model()
    optim = _optim(model, lr=0.1)
    calls = _count_steps(optim)
    model.train_step(_batch(), optim)
    assert calls[0] == len(WIDTHS)
    accumulate = _model(step_mode='accumulate')
    optim = _optim(accumulate, lr=0.1)
    calls = _count_steps(optim)
    accumulate.train_step(_batch(), optim)
    assert calls[0] == 1


def test_group_reg_forces_zero_weight_decay_and_adds_penalty():
    reg_cfg = dict(type='GroupRegLoss', lambda_=5e-5, alpha=0.05, bins=8)
    model = _model(group_reg=reg_cfg)
    hub = MessageHub.get_current_instance()
    hub.update_info('epoch', 3)
    hub.update_info('max_epochs', 8)
    reg = GroupRegLoss(lambda_=5e-5, alpha=0.05, bins=8)
    # teacher branch: the sub-network predictor is left out
    expected_full = reg(model, 3, 8, 1.0, skip_predictor=True)
    expected_sub = reg(model, 3, 8, 0.5, skip_predictor=False)
    assert expected_sub > expected_full

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        optim = _optim(model, lr=0.0, weight_decay=1e-4)
        log = model.train_step(_batch(), optim)
        assert all(g['weight_decay'] == 0 for g in optim.param_groups)
        model.train_step(_batch(), optim)
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert sum('GroupReg replaces weight decay' in m for m in messages) == 1
    torch.testing.assert_close(log['loss_group_reg@w1'], expected_full)
    torch.testing.assert_close(log['loss_group_reg@w0.5'], expected_sub)


def test_no_distill_uses_own_width_targets():
    model = _model(distill=False, aux_predictor=None)
    assert model.aux_predictor is None
    _perturb_teacher(model)
    hand = _hand_teacher(model, 0.99)
    views = _batch()['inputs']
    student = copy.deepcopy([model.backbone, model.neck])
    log = model.train_step(_batch(), _optim(model))
    loss = InfoNCEv2DistillLoss(temperature=0.5)
    for width in WIDTHS:
        online = [_run(student, v, width) for v in views]
        targets = [_run(hand, v, width) for v in views]
        torch.testing.assert_close(log[f'loss_base@w{width:g}'],
                                   _cross(loss, online, targets))
    assert not any('distill' in key for key in log)


def test_max_width_teacher_distills_to_the_widest_student():
    model = _model(teacher='max_width')
    views = _batch()['inputs']
    student = copy.deepcopy([model.backbone, model.neck])
    aux = copy.deepcopy(model.aux_predictor)
    log = model.train_step(_batch(), _optim(model))
    targets = [_run(student, v, WIDTHS[0]) for v in views]
    with torch.no_grad():
        preds = [aux((_run(student, v, 0.5), ))[0] for v in views]
    torch.testing.assert_close(log['loss_distill@w0.5'],
                               _cross(NegativeCosineLoss(), preds, targets))


def test_feature_distillation_by_hand():
    layer = 'layer3.1.bn2'
    model = _model(feature_distill_layers=[layer], feature_distill_lambda=2.)
    views = _batch()['inputs']
    student = copy.deepcopy(model.backbone)
    teacher = copy.deepcopy(student)  # the synced EMA copy == the student
    proj = copy.deepcopy(model.feature_distiller.proj_convs[0])
    log = model.train_step(_batch(), _optim(model))

    def layer_map(backbone, view, width):
        maps = []
        handle = dict(backbone.named_modules())[layer].register_forward_hook(
            lambda m, i, o: maps.append(o))
        with torch.no_grad(), using_width(backbone, width):
            backbone(view)
        handle.remove()
        return maps[0]

    t_maps = [layer_map(teacher, v, 1.0) for v in views]
    with torch.no_grad(), using_width(proj, 0.5):
        s_maps = [proj(layer_map(student, v, 0.5)) for v in views]
    assert s_maps[0].shape == t_maps[0].shape  # sliced in, full out
    expected = 2. * _cross(F.mse_loss, s_maps, t_maps)
    torch.testing.assert_close(log['loss_feature_distill@w0.5'], expected)
    assert 'loss_feature_distill@w1' not in log


def test_byol_variant_uses_predictor_on_teacher_branch():
    model = _model(variant='byol', predictor=_predictor())
    views = _batch()['inputs']
    student = copy.deepcopy([model.backbone, model.neck])
    predictor = copy.deepcopy(model.predictor)
    log = model.train_step(_batch(), _optim(model))
    targets = [_run(student, v) for v in views]  # synced EMA copy
    with torch.no_grad():
        preds = [predictor((_run(student, v), ))[0] for v in views]
    torch.testing.assert_close(log['loss_base@w1'],
                               _cross(NegativeCosineLoss(), preds, targets))


def test_loss_outside_the_step_has_no_side_effects():
    model = _model()
    losses = model(_batch()['inputs'], None, mode='loss')
    assert set(losses) == {'loss_base'}
    assert int(model.target_net.num_updates) == 0
    assert model._base_targets is None


def test_bad_input():
    with pytest.raises(ValueError, match='needs an EMA teacher'):
        _model(momentum=None)
    with pytest.raises(ValueError, match='needs `predictor`'):
        _model(variant='byol')
    with pytest.raises(ValueError, match='no teacher-branch predictor'):
        _model(predictor=_predictor())
    with pytest.raises(ValueError, match='needs `aux_predictor`'):
        _model(aux_predictor=None)
    with pytest.raises(ValueError, match='not modules of'):
        _model(feature_distill_layers=['layer9.bn'])
    with pytest.raises(ValueError, match='variant'):
        _model(variant='moco')
    model = _model()
    with pytest.raises(ValueError, match='two augmented views'):
        model.train_step(
            dict(inputs=[torch.randn(2, 3, 16, 16)], data_samples=None),
            _optim(model))
    # without an EMA copy the max-width teacher is allowed
    assert _model(momentum=None, teacher='max_width').target_net is None


CONFIGS = [
    'us3l-simclr_slim-resnet18_4xb128-coslr-400e_cifar100.py',
    'us3l-byol_slim-resnet50_8xb60-coslr-100e_in1k.py',
    'us3l-simclr_slim-resnet18_1xb64-coslr-1e_fashion-mnist.py',
]


@pytest.mark.parametrize('name', CONFIGS)
def test_configs_build(name):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'us3l', name))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    assert type(model).__name__ == 'US3L'
    assert model.step_mode == 'per_width'
    assert model.group_reg is not None
    assert model.target_net.width == 1.0
    assert not model.backbone.track_running_stats
    hook = cfg.custom_hooks[0]
    assert hook.type == 'WidthSamplingHook'
    assert hook.sampler.num_samples == 3
    if 'in1k' in name:
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
        assert model.predictor is not None
        assert model.predictor is not model.aux_predictor
    if 'cifar100' in name:
        assert hook.sampler.type == 'US3LScheduleSampler'
        assert cfg.optim_wrapper.optimizer.lr == 0.5


def test_train_tool_runs_one_iteration(tmp_path, tiny_cifar10):
    work_dir = tmp_path / 'work'
    result = run_tool([
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        osp.join(TEST_CONFIGS, 'tiny_us3l_cifar.py'), '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}'
    ])
    output = result.stdout + result.stderr
    assert 'GroupReg replaces weight decay' in output
    for key in ('loss_base@w1', 'loss_distill@w0.25',
                'loss_feature_distill@w0.25', 'loss_group_reg@w1'):
        assert key in output, key
    ckpt = load_checkpoint_file(work_dir / 'iter_1.pth')
    state = ckpt['state_dict']
    assert int(state['target_net.num_updates']) == 1
    assert 'target_net.net.0.conv1.weight' in state
    assert not torch.equal(state['target_net.net.0.conv1.weight'],
                           state['backbone.conv1.weight'])
    assert all(g['weight_decay'] == 0
               for g in ckpt['optimizer']['param_groups'])
