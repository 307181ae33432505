# Copyright (c) slim_plugins contributors. All rights reserved.
"""SlimCLR-MoCoV2 / -MoCoV3: losses, keys, queue, momentum, slow start,
configs and a short training run through tools/train.py."""
import copy
import glob
import json
import math
import os.path as osp
import sys
import uuid

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, TEST_CONFIGS, load_tool
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.engine.samplers import SlowStartSampler
from slim_plugins.models.losses import InfoNCELoss, moco_logits
from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS, PARAM_SCHEDULERS

WIDTHS = [1.0, 0.75, 0.5, 0.25]
LAMBDAS = [2.5, 1.0, 1.0, 1.0]  # option 5: 1 + (0.75 + 0.5 + 0.25)
BATCH = 4


def backbone_cfg(**kwargs):
    cfg = dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        stem_channels=8,
        base_channels=8,
        width_mode='switchable',
        widths=WIDTHS,
        channel_rule='int')
    cfg.update(kwargs)
    return cfg


def neck_cfg(in_channels=64, out_channels=8, **kwargs):
    cfg = dict(
        type='SlimMLPNeck',
        in_channels=in_channels,
        hid_channels=16,
        out_channels=out_channels,
        norm='none',
        width_mode='switchable',
        widths=WIDTHS,
        channel_rule='int')
    cfg.update(kwargs)
    return cfg


def v2_cfg(**kwargs):
    cfg = dict(
        type='SlimCLRMoCoV2',
        queue_len=8,
        feat_dim=8,
        backbone=backbone_cfg(),
        neck=neck_cfg())
    cfg.update(kwargs)
    return cfg


def v3_cfg(**kwargs):
    cfg = dict(
        type='SlimCLRMoCoV3',
        backbone=backbone_cfg(),
        neck=neck_cfg(
            with_bias=False,
            norm='switchable',
            with_last_bn=True,
            with_last_bn_affine=False),
        predictor=neck_cfg(
            in_channels=8,
            with_bias=False,
            norm='switchable',
            slim_in=False,
            with_avg_pool=False))
    cfg.update(kwargs)
    return cfg


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def views(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(BATCH, 3, 16, 16, generator=gen) for _ in range(2)]


def sgd(model):
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: on the shared 2-core machine, two threads per
    process make the tiny convolutions ~20x slower under load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def message_hub():
    """A fresh current message hub, as the runner has mid-training."""
    hub = MessageHub.get_instance(f'test_slimclr_{uuid.uuid4().hex}')
    hub.update_info('iter', 0)
    hub.update_info('max_iters', 100)
    return hub


# ----------------------------------------------------------------------
# naive references (float64, explicit sums)
# ----------------------------------------------------------------------
def naive_ce_soft(student, teacher, temperature):
    """``T^2 mean_n sum_j -softmax(t_n / T)_j log softmax(s_n / T)_j``."""
    s = student.double() / temperature
    t = teacher.double() / temperature
    total = 0.0
    for n in range(s.size(0)):
        p = torch.exp(t[n]) / torch.exp(t[n]).sum()
        log_q = s[n] - torch.log(torch.exp(s[n]).sum())
        total += float(-(p * log_q).sum())
    return temperature**2 * total / s.size(0)


def naive_ce_hard(logits, labels):
    """``mean_n [-l_n[y_n] + log sum_j exp(l_n[j])]``."""
    logits = logits.double()
    total = 0.0
    for n in range(logits.size(0)):
        total += float(-logits[n, labels[n]] +
                       torch.log(torch.exp(logits[n]).sum()))
    return total / logits.size(0)


def test_naive_references_on_hand_values():
    # -l_0 + log(e^l_0 + e^l_1) with l = (2, 0): log(1 + e^-2)
    assert naive_ce_hard(torch.tensor([[2.0, 0.0]]), [0]) == pytest.approx(
        0.126928011, abs=1e-9)
    # uniform teacher over 2 entries, student (0, 0): T^2 log 2 with T = 2
    assert naive_ce_soft(torch.zeros(1, 2), torch.zeros(1, 2),
                         2.0) == pytest.approx(
                             4 * 0.693147181, abs=1e-8)


# ----------------------------------------------------------------------
# NCE with a queue and the two KD forms on hand-computed values
# ----------------------------------------------------------------------
def test_nce_with_queue_hand_value():
    query = torch.tensor([[1.0, 0.0]])
    key = torch.tensor([[0.6, 0.8]])
    queue = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # columns (0,1), (-1,0)
    logits = moco_logits(query, key, queue)
    torch.testing.assert_close(logits, torch.tensor([[0.6, 0.0, -1.0]]))
    # -0.6/0.2 + log(e^3 + e^0 + e^-5) = log(1 + e^-3 + e^-8)
    assert float(InfoNCELoss(0.2)(logits)) == pytest.approx(
        0.048906854, abs=1e-6)


@pytest.mark.parametrize(
    'raw, temperature, expected',
    [
        # T^2 CE(softmax(t / (0.2 T)), softmax(s / (0.2 T))), T = 1
        (False, 1.0, 0.198004043),
        # reference: T^2 CE(softmax(t / T), softmax(s / T)), T = 5 on cosines
        (True, 5.0, 27.307882405),
    ])
def test_kd_forms_hand_values(raw, temperature, expected):
    model = build(
        v2_cfg(kd_on_raw_cosines=raw, distill_temperature=temperature))
    student = torch.tensor([[0.6, 0.0, -1.0]])
    teacher = torch.tensor([[0.8, 0.2, -0.6]])
    loss = model.distill_loss(
        model.distill_logits(student), model.distill_logits(teacher))
    assert float(loss) == pytest.approx(expected, abs=1e-5)


# ----------------------------------------------------------------------
# MoCoV2: one step against a naive computation
# ----------------------------------------------------------------------
def queries_v2(model, view):
    out = {}
    with torch.no_grad():
        for width in WIDTHS:
            with model.student_width(width):
                out[width] = F.normalize(
                    model.neck(model.backbone(view))[0], dim=1)
    return out


@pytest.mark.parametrize('raw', [False, True])
def test_mocov2_step_matches_naive_loss_and_fills_queue(raw):
    tau, temperature, beta = 0.2, (5.0 if raw else 1.0), 0.5
    model = build(
        v2_cfg(kd_on_raw_cosines=raw, distill_temperature=temperature))
    model.train()
    x_q, x_k = views()
    queue = model.queue.clone()
    # The key encoder starts equal to the online network, so the EMA update
    # leaves it unchanged and the keys are the full-width online outputs.
    with torch.no_grad(), using_width(model.backbone, 1.0):
        keys = F.normalize(model.neck(model.backbone(x_k))[0], dim=1)
    queries = queries_v2(model, x_q)

    expected, losses = 0.0, {}
    scale = 1.0 if raw else 1.0 / tau
    teacher = None
    for width, lam in zip(WIDTHS, LAMBDAS):
        q = queries[width]
        logits = torch.cat([(q * keys).sum(1, keepdim=True), q @ queue], 1)
        nce = naive_ce_hard(logits / tau, [0] * BATCH)
        if width == 1.0:
            teacher = logits
            losses[width] = nce
        else:
            kd = naive_ce_soft(logits * scale, teacher * scale, temperature)
            losses[width] = (1 - beta) * nce + beta * kd
        expected += lam * losses[width]

    log_vars = model.train_step(
        dict(inputs=[x_q, x_k], data_samples=None), sgd(model))
    assert float(log_vars['loss']) == pytest.approx(expected, rel=1e-4)
    for width in WIDTHS[1:]:
        suffix = f'@w{width:g}'
        got = log_vars['loss_contrast' + suffix] + \
            log_vars['loss_distill' + suffix]
        assert float(got.detach()) == pytest.approx(losses[width], rel=1e-4)
        assert float(log_vars['loss' + suffix].detach()) == pytest.approx(
            losses[width], rel=1e-4)
    # The queue's oldest entries now hold the normalised full-width keys.
    torch.testing.assert_close(
        model.queue[:, :BATCH], keys.t(), atol=1e-5, rtol=0)
    torch.testing.assert_close(model.queue[:, BATCH:], queue[:, BATCH:])
    assert int(model.queue_ptr) == BATCH


def test_mocov2_keys_ignore_the_student_width_and_queue_wraps():
    model = build(v2_cfg(queue_len=6))
    model.train()
    x_q, x_k = views()
    full = model.compute_keys(x_k)
    with model.student_width(0.25):
        assert model.backbone.width == 0.25
        narrow = model.compute_keys(x_k)
    torch.testing.assert_close(narrow, full, atol=1e-6, rtol=0)
    assert narrow.shape == (BATCH, 8)
    # One enqueue per step, whatever the number of widths; the ring wraps.
    for seed in range(2):
        x_q, x_k = views(seed)
        model.train_step(
            dict(inputs=[x_q, x_k], data_samples=None), sgd(model))
    assert int(model.queue_ptr) == (2 * BATCH) % 6
    # The key encoder is only updated at the start of a step, so it still
    # gives the second step's keys (train-mode BN, full width).
    with torch.no_grad():
        keys = F.normalize(model.encoder_k(x_k)[0], dim=1)
    torch.testing.assert_close(
        model.queue[:, [4, 5, 0, 1]], keys.t(), atol=1e-5, rtol=0)


def test_slow_start_switches_sub_widths_on():
    model = build(v2_cfg())
    sampler = SlowStartSampler(WIDTHS, start_epoch=1)
    seen = []
    for epoch in (0.0, 0.5, 1.0, 1.5):
        model.set_train_widths(sampler.sample(epoch, max_epochs=2))
        log_vars = model.train_step(
            dict(inputs=views(), data_samples=None), sgd(model))
        seen.append(sorted(k for k in log_vars if '@' in k))
        if epoch < 1:
            # Only the full width: L = NCE_1 (its weight is 1 alone).
            torch.testing.assert_close(log_vars['loss'],
                                       log_vars['loss_contrast@w1'])
    assert seen[0] == seen[1] == ['loss@w1', 'loss_contrast@w1']
    assert seen[2] == seen[3]
    suffixes = ['w1', 'w0.75', 'w0.5', 'w0.25']
    assert set(seen[2]) == {
        f'{name}@{s}'
        for name in ('loss', 'loss_contrast')
        for s in suffixes
    } | {f'loss_distill@{s}'
         for s in suffixes[1:]}


# ----------------------------------------------------------------------
# MoCoV3
# ----------------------------------------------------------------------
def test_mocov3_step_matches_naive_symmetric_loss(message_hub):
    tau, beta = 1.0, 0.5
    model = build(v3_cfg())
    model.train()
    x1, x2 = views()
    with torch.no_grad():
        with using_width(model.backbone, 1.0):
            k1, k2 = (
                F.normalize(model.neck(model.backbone(x))[0], dim=1)
                for x in (x1, x2))
        queries = {}
        for width in WIDTHS:
            with model.student_width(width):
                queries[width] = [
                    F.normalize(
                        model.predictor(model.neck(model.backbone(x)))[0],
                        dim=1) for x in (x1, x2)
                ]
    labels = list(range(BATCH))
    expected, teacher = 0.0, None
    for width, lam in zip(WIDTHS, LAMBDAS):
        logits = [
            queries[width][0] @ k2.t() / tau, queries[width][1] @ k1.t() / tau
        ]
        # S(q^1, k^2) + S(q^2, k^1), S = 2 tau CE(q K^T / tau)
        contrast = sum(2 * tau * naive_ce_hard(lg, labels) for lg in logits)
        if width == 1.0:
            teacher, loss = logits, contrast
        else:
            kd = sum(naive_ce_soft(s, t, 1.0) for s, t in zip(logits, teacher))
            loss = (1 - beta) * contrast + beta * kd
        expected += lam * loss

    swapped = copy.deepcopy(model)
    log_vars = model.train_step(
        dict(inputs=[x1, x2], data_samples=None), sgd(model))
    assert float(log_vars['loss']) == pytest.approx(expected, rel=1e-4)
    assert {k
            for k in log_vars if k.startswith('loss_distill')} == {
                'loss_distill@w0.75', 'loss_distill@w0.5', 'loss_distill@w0.25'
            }
    # The loss is symmetric in the two views.
    log_swapped = swapped.train_step(
        dict(inputs=[x2, x1], data_samples=None), sgd(swapped))
    assert float(log_swapped['loss']) == pytest.approx(
        float(log_vars['loss']), rel=1e-5)


@pytest.mark.parametrize('progress, momentum', [(0.0, 0.99), (0.5, 0.995),
                                                (1.0, 1.0)])
def test_mocov3_momentum_cosine_schedule(message_hub, progress, momentum):
    # m(t) = 1 - (1 - 0.99) (1 + cos(pi t)) / 2
    model = build(v3_cfg())
    with torch.no_grad():
        for param in model.backbone.parameters():
            param.add_(0.5)
    teacher = model.momentum_encoder.net[0].conv1.weight
    before, online = teacher.clone(), model.backbone.conv1.weight.clone()
    message_hub.update_info('iter', int(progress * 100))
    model.compute_keys(views())
    torch.testing.assert_close(teacher,
                               momentum * before + (1 - momentum) * online)


def test_mocov3_momentum_needs_the_training_progress():
    model = build(v3_cfg())
    MessageHub.get_instance(f'empty_{uuid.uuid4().hex}')
    with pytest.raises(RuntimeError, match='max_iters'):
        model.compute_keys(views())


# ----------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize('cfg, match', [
    (v2_cfg(backbone=backbone_cfg(width_mode='universal')),
     'switchable backbone'),
    (v2_cfg(neck=neck_cfg(widths=[1.0, 0.5])), 'neck widths'),
    (v2_cfg(neck=neck_cfg(width_mode='universal')), 'universal'),
    (v2_cfg(widths=[1.0, 0.5, 0.25]), 'differ from the backbone'),
    (v2_cfg(distill_weight=1.5), 'distill_weight'),
    (v3_cfg(
        predictor=neck_cfg(
            in_channels=8,
            slim_in=False,
            with_avg_pool=False,
            widths=[1.0, 0.75, 0.5])), 'predictor widths'),
])
def test_inconsistent_widths_fail_at_build(cfg, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(cfg)


def test_bad_step_widths_and_inputs():
    model = build(v2_cfg())
    with pytest.raises(ValueError, match='all widths'):
        model.set_train_widths([1.0, 0.5])
    with pytest.raises(ValueError, match='all widths'):
        model.set_train_widths([0.75, 0.5, 0.25])
    model.set_train_widths([1.0])
    with pytest.raises(TypeError, match='num_views=2'):
        model.train_step(
            dict(inputs=[views()[0]], data_samples=None), sgd(model))
    with pytest.raises(RuntimeError, match='train_step'):
        model(views(), None, mode='loss')


# ----------------------------------------------------------------------
# configs
# ----------------------------------------------------------------------
CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', 'slimclr', 'slimclr-moco*.py')))


def test_configs_exist():
    names = {osp.basename(path) for path in CONFIGS}
    assert {
        'slimclr-mocov2_slim-resnet50_4xb256-coslr-200e_in1k.py',
        'slimclr-mocov2_slim-resnet50_4xb256-coslr-800e_in1k.py',
        'slimclr-mocov3_slim-resnet50_8xb128-coslr-300e_in1k.py',
        'slimclr-mocov2_slim-resnet18_1xb64-coslr-2e_fashion-mnist.py',
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    init_default_scope('slim_plugins')
    cfg = Config.fromfile(path)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    (hook, ) = [h for h in cfg.custom_hooks if h.type == 'WidthSamplingHook']
    assert hook.sampler.sampler == model.widths == WIDTHS
    (scheduler_cfg, ) = cfg.param_scheduler
    assert scheduler_cfg.slow_start == hook.sampler.start_epoch
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)],
                                lr=cfg.optim_wrapper.optimizer.lr)
    scheduler = PARAM_SCHEDULERS.build(
        dict(scheduler_cfg, epoch_length=10),
        default_args=dict(optimizer=optimizer))
    assert scheduler.end == 10 * cfg.train_cfg.max_epochs
    del model


# ----------------------------------------------------------------------
# training through tools/train.py
# ----------------------------------------------------------------------
def read_scalars(work_dir):
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize('algo', ['mocov2', 'mocov3'])
def test_train_tool_runs_slow_start_schedule(tmp_path, tiny_cifar10,
                                             monkeypatch, algo):
    work_dir = tmp_path / 'work'
    # tools/train.py in this process (its imports are already loaded).
    train = load_tool(osp.join('tools', 'train.py'))
    monkeypatch.setattr(sys, 'argv', [
        'train.py',
        osp.join(TEST_CONFIGS, f'tiny_slimclr_{algo}.py'), '--work-dir',
        str(work_dir), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}'
    ])
    train.main()
    logs = [entry for entry in read_scalars(str(work_dir)) if 'loss' in entry]
    # 2 epochs x 2 iterations; sub-widths from epoch 1 (iteration 2).
    assert [entry['num_widths'] for entry in logs] == [1, 1, 4, 4]
    assert ['loss_distill@w0.25' in entry
            for entry in logs] == [False, False, True, True]
    # SlowStartCosineLR: lr 0.1, 1 warmup iteration, 4 iterations,
    # amplitude 0.05 from iteration 2: 1e-8, 0.1, 0.025 (1 + cos(pi/3)),
    # 0.025 (1 + cos(2 pi/3)).
    lrs = [entry['lr'] for entry in logs]
    assert lrs == pytest.approx([1e-8, 0.1, 0.0375, 0.0125], rel=1e-6)
    assert all(math.isfinite(entry['loss']) for entry in logs)
    ckpt = torch.load(
        work_dir / 'epoch_2.pth', map_location='cpu', weights_only=False)
    teacher = 'encoder_k' if algo == 'mocov2' else 'momentum_encoder'
    assert any(k.startswith(f'{teacher}.net.0.') for k in ckpt['state_dict'])
