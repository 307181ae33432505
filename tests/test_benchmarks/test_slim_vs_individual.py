# Copyright (c) slim_plugins contributors. All rights reserved.
"""benchmarks/slim_vs_individual.py: the options that make an individual
model and its probe, and the whole comparison through the tools."""
import copy
import json
import os
import os.path as osp
import re

import pytest
import torch
from conftest import REPO_ROOT, load_tool, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.optim import OptimWrapper

import slim_plugins  # noqa: F401
from slim_plugins.models.losses import InfoNCEv2DistillLoss
from slim_plugins.ops import using_width
from slim_plugins.registry import HOOKS, MODELS

SCRIPT = 'benchmarks/slim_vs_individual.py'
bench = load_tool(SCRIPT)
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS='1')


def _pretrain_cfg(*options):
    return bench.merged_config(
        osp.join(REPO_ROOT, bench.US3L_CFG),
        bench.TINY_PRETRAIN + list(options))


def _model(cfg):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.train()


def _without(cfg, *keys):
    """The config as a dict, minus dotted ``keys``."""
    out = copy.deepcopy(cfg.to_dict())
    for key in keys:
        *parents, last = key.split('.')
        node = out
        for parent in parents:
            node = node[int(parent)] if isinstance(node, list) else \
                node[parent]
        node.pop(last, None)
    return out


def _two_views():
    """A batch of two random 28x28 grey views of 4 images."""
    gen = torch.Generator().manual_seed(1)
    return dict(
        inputs=[
            torch.randint(0, 256, (4, 1, 28, 28), generator=gen).float()
            for _ in range(2)
        ],
        data_samples=None)


def test_individual_model_is_the_us3l_config_at_one_width():
    us3l_cfg = _pretrain_cfg()
    (index, ) = bench.hook_indices(us3l_cfg, 'WidthSamplingHook')
    cfg = _pretrain_cfg(*bench.individual_options(us3l_cfg, 0.5))
    # Only the widths and the distillation differ from the US3L config.
    sampler = f'custom_hooks.{index}.sampler'
    changed = ('model.distill', 'model.default_widths', sampler)
    assert _without(cfg, *changed) == _without(us3l_cfg, *changed)
    hook = HOOKS.build(copy.deepcopy(cfg.custom_hooks[index]))
    for epoch in (0.0, 0.5):
        assert hook.sampler.sample(epoch, 1) == [0.5]

    model = _model(cfg)
    assert not model.distill and model.aux_predictor is None
    assert model.train_widths == [0.5]
    # One step trains width 0.5 only, against the EMA copy run at 0.5 (a
    # SimCLR-Momentum network of width 0.5): at initialisation the copy
    # equals the student, so the targets are the student's own projections.
    batch = _two_views()
    views = model.data_preprocessor(copy.deepcopy(batch), True)['inputs']
    with torch.no_grad(), using_width(model.backbone, 0.5), \
            using_width(model.neck, 0.5):
        z = [model.neck(model.backbone(v))[0] for v in views]
    with torch.no_grad(), using_width(model.backbone, 1.0), \
            using_width(model.neck, 1.0):
        z_full = [model.neck(model.backbone(v))[0] for v in views]
    loss = InfoNCEv2DistillLoss(temperature=0.5)
    # L = (l(z_1, t_2) + l(z_2, t_1)) / 2 with t = z (teacher == student)
    expected = 0.5 * (loss(z[0], z[1]) + loss(z[1], z[0]))
    at_full_width = 0.5 * (loss(z[0], z_full[1]) + loss(z[1], z_full[0]))
    assert not torch.allclose(expected, at_full_width)
    log = model.train_step(
        batch,
        OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0)))
    assert {k for k in log if '@' in k} == {
        'loss@w0.5', 'loss_base@w0.5', 'loss_group_reg@w0.5'
    }
    torch.testing.assert_close(log['loss_base@w0.5'], expected)


def test_individual_model_is_the_slimclr_config_at_one_width():
    path = osp.join(REPO_ROOT, bench.SLIMCLR_CFG)
    slim_cfg = bench.merged_config(path, bench.TINY_SLIMCLR_PRETRAIN)
    (index, ) = bench.hook_indices(slim_cfg, 'WidthSamplingHook')
    cfg = bench.merged_config(
        path, bench.TINY_SLIMCLR_PRETRAIN +
        bench.individual_options(slim_cfg, 0.5))
    # Only the width lists and the sampler differ from the SlimCLR config.
    changed = ('model.widths', 'model.backbone.widths', 'model.neck.widths',
               f'custom_hooks.{index}.sampler')
    assert _without(cfg, *changed) == _without(slim_cfg, *changed)
    assert list(cfg.model.backbone.widths) == [0.5]
    assert list(cfg.model.neck.widths) == [0.5]

    model = _model(cfg)
    assert model.widths == [0.5] and model.teacher_width == 0.5
    # The backbone runs at int(64 x 0.5) = 32 output channels, and a step
    # trains that width alone, with the contrastive loss at weight 1.
    assert model.backbone(torch.zeros(2, 1, 28, 28))[0].shape[1] == 32
    batch = _two_views()
    log = model.train_step(
        batch,
        OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0)))
    assert {k for k in log if '@' in k} == {
        'loss@w0.5', 'loss_contrast@w0.5'
    }
    torch.testing.assert_close(log['loss@w0.5'], log['loss_contrast@w0.5'])


def test_switchable_widths_and_probe():
    path = osp.join(REPO_ROOT, bench.SLIMCLR_CFG)
    cfg = bench.merged_config(path, [])
    assert bench.check_widths([0.25, 1.0], cfg) == [1.0, 0.25]
    with pytest.raises(SystemExit, match=r'not widths of the switchable '
                       r'backbone .*\[1.0, 0.75, 0.5, 0.25\]'):
        bench.check_widths([0.6], cfg)
    # The probe's switchable backbone holds the checkpoint's width list.
    probe_path = osp.join(REPO_ROOT, bench.SLIMCLR_PROBE_CFG)
    probe = bench.merged_config(probe_path, bench.TINY_PROBE)
    assert bench.hook_indices(probe, 'BNCalibrationHook') == []
    options = bench.probe_options(probe, [0.25], None, 0.0)
    assert 'model.backbone.widths=[0.25]' in options
    probe = bench.merged_config(probe_path, bench.TINY_PROBE + options)
    model_cfg = copy.deepcopy(probe.model)
    model_cfg.backbone.pop('init_cfg')
    assert MODELS.build(model_cfg).train_widths == [0.25]


def test_family_arguments():
    args = bench.parse_args(['--family', 'slimclr'])
    assert args.widths == [1.0, 0.75, 0.5, 0.25]
    assert args.config.endswith(bench.SLIMCLR_CFG)
    assert args.probe_config.endswith(bench.SLIMCLR_PROBE_CFG)
    assert bench.parse_args([]).widths == [1.0, 0.5, 0.25]
    with pytest.raises(SystemExit):  # a SlimCLR ablation for US3L
        bench.parse_args(['--ablations', 'no-slow-start'])
    assert bench.parse_args(['--fairness']).fairness == []


def test_combined_ablations():
    slimclr = bench.FAMILIES['slimclr']
    pre, probe, by = bench.ablation_options(slimclr,
                                            'no-slow-start+no-distill')
    assert pre == (slimclr.ablations['no-slow-start'][0] +
                   slimclr.ablations['no-distill'][0])
    assert probe == [] and by is None
    # Probe settings on top of a pre-training ablation probe its checkpoint.
    pre, probe, by = bench.ablation_options(slimclr,
                                            'no-slow-start+probe-no-bn')
    assert pre == slimclr.ablations['no-slow-start'][0]
    assert probe == ['model.head.feature_norm=False']
    assert by == 'no-slow-start'
    assert bench.ablation_options(slimclr, 'probe-no-bn')[2] == ''
    args = bench.parse_args([
        '--family', 'slimclr', '--ablations', 'no-slow-start',
        'no-slow-start+probe-no-bn', 'probe-distill'
    ])
    assert args.ablations[1] == 'no-slow-start+probe-no-bn'
    for bad, message in [
        (['no-slow-start+probe-no-bn'], "listed before it"),
        (['no-distill', 'no-distill'], 'listed twice'),
        (['no-distill+no-distill'], 'names an ablation twice'),
        (['no-slow-start+no-group-reg'], "'no-group-reg'"),
    ]:
        with pytest.raises(ValueError, match=message):
            bench.check_ablations(slimclr, bad)


def test_ablation_options_reach_the_hooks():
    us3l = bench.FAMILIES['us3l']
    probe_cfg = bench.merged_config(bench._in_repo(us3l.probe_config), [])
    options = bench.hook_options(
        us3l.ablations['probe-calibration-100'][1], probe_cfg,
        'calibration', bench.CALIBRATION_HOOK)
    (index, ) = bench.hook_indices(probe_cfg, bench.CALIBRATION_HOOK)
    assert options == [f'custom_hooks.{index}.num_batches=100']
    cfg = bench.merged_config(bench._in_repo(us3l.probe_config), options)
    assert cfg.custom_hooks[index].num_batches == 100
    assert probe_cfg.custom_hooks[index].num_batches == 20

    slimclr = bench.FAMILIES['slimclr']
    pre_cfg = bench.merged_config(bench._in_repo(slimclr.config), [])
    options = bench.hook_options(slimclr.ablations['no-slow-start'][0],
                                 pre_cfg, 'sampling_hook',
                                 bench.SAMPLER_HOOK)
    cfg = bench.merged_config(bench._in_repo(slimclr.config), options)
    (index, ) = bench.hook_indices(pre_cfg, bench.SAMPLER_HOOK)
    assert pre_cfg.custom_hooks[index].sampler.start_epoch == 1
    assert cfg.custom_hooks[index].sampler.start_epoch == 0
    # The placeholder of a hook the config lacks is refused, not dropped.
    with pytest.raises(SystemExit, match='no BNCalibrationHook'):
        bench.hook_options(['{calibration}.num_batches=100'], pre_cfg,
                           'calibration', bench.CALIBRATION_HOOK)


@pytest.mark.parametrize('family', ['us3l', 'slimclr'])
def test_untrained_control_is_one_step_at_learning_rate_zero(family):
    family = bench.FAMILIES[family]
    options = family.ablations['untrained'][0]
    cfg = bench.merged_config(bench._in_repo(family.config), options)
    assert cfg.optim_wrapper.optimizer.lr == 0
    assert cfg.train_cfg.max_epochs == 1
    # One batch of the training subset, dropped last or not: one iteration.
    assert (cfg.train_dataloader.dataset.indices ==
            cfg.train_dataloader.batch_size)
    # SlimCLR's post-slow-start LR is absolute (not 0 x a factor): no
    # schedule at all
    assert family.label.startswith('US3L') or cfg.param_scheduler == []
    # Setting the subset itself, it is not capped at --iters (which would
    # refuse a 64-image subset for 400 iterations).
    with pytest.raises(SystemExit, match='more than the config'):
        bench.iters_options(cfg, 400)


def test_probe_ablation_needs_the_pretrained_run(tmp_path):
    args = bench.parse_args(['--work-dir', str(tmp_path)])
    run = bench.Run('us3l_probe-no-bn', 'US3L probe-no-bn', [], [], [1.0],
                    pretrained_by='us3l')
    with pytest.raises(SystemExit, match=r'checkpoint of us3l, which has '
                       r'not finished'):
        bench.run_seed(run, 0, args, lambda w: 1.0)
    assert not (tmp_path / 'runs' / 'us3l_probe-no-bn').exists()


def test_iters_options_keep_the_epochs():
    cfg = Config(
        dict(
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=2),
            train_dataloader=dict(
                batch_size=64, dataset=dict(indices=45000))))
    assert bench.iters_options(cfg, None) == []
    # ceil(3 / 2) = 2 iterations per epoch of 64 images
    assert bench.iters_options(cfg, 3) == [
        'train_dataloader.dataset.indices=128'
    ]
    with pytest.raises(SystemExit, match='subset of 45000'):
        bench.iters_options(cfg, 2000)  # 1000 x 64 > 45000
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=10)
    assert bench.iters_options(cfg, 5) == ['train_cfg.max_iters=5']


def test_probe_options_probe_one_width_without_distillation():
    path = osp.join(REPO_ROOT, bench.US3L_PROBE_CFG)
    base = bench.merged_config(path, bench.TINY_PROBE)
    old_epochs = base.train_cfg.max_epochs
    options = bench.probe_options(base, [0.5], old_epochs + 1, 0.0)
    cfg = bench.merged_config(path, bench.TINY_PROBE + options)
    assert list(cfg.model.widths) == [0.5]
    assert list(cfg.model.head.widths) == [0.5]
    assert cfg.model.head.distill_weight == 0.0
    assert list(cfg.test_cfg.widths) == [0.5]
    (index, ) = bench.hook_indices(cfg, 'BNCalibrationHook')
    assert list(cfg.custom_hooks[index].widths) == [0.5]
    assert cfg.train_cfg.max_epochs == old_epochs + 1
    cosine = cfg.param_scheduler[0]
    assert cosine.T_max == cosine.end == old_epochs + 1
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.pop('init_cfg')
    assert MODELS.build(model_cfg).train_widths == [0.5]


def test_table_marks_widths_without_a_model():
    text = bench.table([1.0, 0.75, 0.5], {
        'US3L (one run)': {
            '1': dict(mean=80.0, std=0.5, n=3),
            '0.75': dict(mean=79.5, std=0.25, n=3),
            '0.5': 78.25
        },
        'individual': {'1': 81.0, '0.5': 77.0},
    })
    lines = text.splitlines()
    assert lines[0] == '| | w=1.0 | w=0.75 | w=0.5 |'
    assert lines[2] == ('| US3L (one run) | 80.00 +- 0.50 | 79.50 +- 0.25 '
                        '| 78.25 |')
    assert lines[3] == '| individual | 81.00 | - | 77.00 |'


def test_aggregation_over_seeds():
    # mean 2, sample std sqrt(((1-2)^2 + 0 + (3-2)^2) / 2) = 1
    assert bench.aggregate([1.0, 2.0, 3.0]) == dict(mean=2.0, std=1.0, n=3)
    assert bench.aggregate([5.0]) == dict(mean=5.0, std=0.0, n=1)
    rows = bench.summarize({0: {'1': 80.0, '0.5': 70.0},
                            1: {'1': 82.0, '0.5': 70.0}})
    assert list(rows) == ['1', '0.5']
    assert rows['1']['mean'] == 81.0
    assert rows['1']['std'] == pytest.approx(2 ** 0.5)
    assert rows['1']['values'] == {0: 80.0, 1: 82.0}
    assert rows['0.5']['std'] == 0.0
    with pytest.raises(ValueError, match=r'width 0.5 has no result for '
                       r'seeds \[1\]'):
        bench.summarize({0: {'1': 80.0, '0.5': 70.0}, 1: {'1': 82.0}})
    # --report of unfinished runs: the seeds a width has, marked partial
    rows = bench.summarize({0: {'1': 80.0, '0.5': 70.0}, 1: {'1': 82.0}},
                           seeds=[0, 1, 2])
    assert rows['0.5'] == dict(mean=70.0, std=0.0, n=1, values={0: 70.0},
                               partial=True)
    assert bench.cell(rows['0.5']) == '70.00 (n=1)'  # one seed: no spread
    assert bench.cell(rows['1']) == '81.00 +- 1.41 (n=2)'


def test_paired_differences():
    one_run = {0: {'1': 80.0, '0.5': 70.0}, 1: {'1': 78.0, '0.5': 71.0},
               2: {'1': 75.0, '0.5': 60.0}}
    alone = {0: {'1': 79.0}, 1: {'1': 75.0}}  # seed 2 and 0.5 not run
    diffs = bench.paired_differences(one_run, alone)
    # per seed 1 and 3: mean 2, sample std sqrt(2)
    assert list(diffs) == ['1']
    assert diffs['1']['mean'] == 2.0 and diffs['1']['n'] == 2
    assert diffs['1']['std'] == pytest.approx(2 ** 0.5)
    assert diffs['1']['values'] == {0: 1.0, 1: 3.0}
    assert bench.paired_differences(one_run, {}) == {}


def _cost_cfg(sampler, **model):
    return Config(
        dict(
            model=dict(momentum=0.99, **model),
            train_cfg=dict(max_epochs=4),
            train_dataloader=dict(batch_size=4),
            custom_hooks=[dict(type='WidthSamplingHook', sampler=sampler)]))


def test_training_cost_on_a_hand_checkable_case():
    macs = {1.0: 100, 0.5: 30, 0.25: 10}.__getitem__
    widths = dict(type='AllWidthsSampler', widths=[1.0, 0.5])
    # distillation to the EMA teacher at 1.0, one step per width:
    # 4 images x 2 views x (3 x (100 + 30) + 100) = 3920 per iteration
    cost = bench.training_cost(_cost_cfg(widths), 10, macs)
    assert cost == bench.Cost(10, 20, 39200)
    # no distillation: the EMA copy runs at each width, 8 x 4 x 130
    cost = bench.training_cost(_cost_cfg(widths, distill=False), 10, macs)
    assert cost == bench.Cost(10, 20, 41600)
    # accumulate: one optimizer step per iteration
    cost = bench.training_cost(
        _cost_cfg(widths, step_mode='accumulate'), 10, macs)
    assert cost.steps == 10
    # a sandwich of 3 widths on a linear cost: 1.0, 0.25 and on average
    # the middle of the range, 0.625 -> 8 x (3 x (100 + 25 + 62.5) + 100)
    linear = lambda w: 100 * w  # noqa: E731
    sandwich = dict(type='SandwichSampler', width_range=(0.25, 1.0),
                    num_samples=3)
    cost = bench.training_cost(_cost_cfg(sandwich), 1, linear)
    assert cost.steps == 3
    assert cost.macs == pytest.approx(8 * (3 * 187.5 + 100))
    # US3L's schedule over 4 epochs: stage 1 trains 1.0 alone, then
    # [1.0, lo, uniform] with lo = 0.75, 0.5, 0.25
    schedule = dict(sandwich, type='US3LScheduleSampler')
    cost = bench.training_cost(_cost_cfg(schedule), 4, linear)
    student = (100 + sum(100 + 100 * lo + 100 * (lo + 1) / 2
                         for lo in (0.75, 0.5, 0.25))) / 4
    assert cost.steps == pytest.approx(4 * (1 + 3 * 3) / 4)
    assert cost.macs == pytest.approx(4 * 8 * (3 * student + 100))


def test_slimclr_training_cost_on_a_hand_checkable_case():
    macs = {1.0: 100, 0.5: 30}.__getitem__
    cfg = Config(
        dict(
            model=dict(type='SlimCLRMoCoV2',
                       backbone=dict(widths=[1.0, 0.5])),
            train_cfg=dict(max_epochs=4),
            train_dataloader=dict(batch_size=4),
            custom_hooks=[
                dict(
                    type='WidthSamplingHook',
                    sampler=dict(type='SlowStartSampler', sampler=[1.0, 0.5],
                                 start_epoch=1))
            ]))
    # epoch 0: the query view through 1.0 alone; epochs 1-3 through 1.0 and
    # 0.5; the key view once through the key encoder at 1.0:
    # 4 images x (3 x (100 + 3 x 130) / 4 + 100) = 1870 per iteration,
    # one optimizer step per iteration
    cost = bench.training_cost(cfg, 10, macs)
    assert cost == bench.Cost(10, 10, 18700)


def test_schedule_options_stretch_the_epochs():
    cfg = Config(
        dict(
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1),
            param_scheduler=[dict(type='CosineAnnealingLR', T_max=1, end=1)],
            train_dataloader=dict(batch_size=64, dataset=dict())))
    # within the family's length: the plain iteration cap
    assert bench.schedule_options(cfg, 150, 200) == [
        'train_dataloader.dataset.indices=9600'
    ]
    # 700 iterations against 200: 4 epochs of ceil(700 / 4) = 175
    assert bench.schedule_options(cfg, 700, 200) == [
        'train_cfg.max_epochs=4', 'param_scheduler.0.T_max=4',
        'param_scheduler.0.end=4', 'train_dataloader.dataset.indices=11200'
    ]


def test_bad_input(tmp_path):
    with pytest.raises(SystemExit, match='prepare_fashion_mnist'):
        bench.main(['--data-root', str(tmp_path / 'missing')])
    with pytest.raises(SystemExit, match='width_range'):
        bench.main(['--data-root', str(tmp_path), '--widths', '0.1'])
    with pytest.raises(SystemExit, match='duplicates'):
        bench.main(
            ['--data-root', str(tmp_path), '--widths', '0.5', '0.5'])
    with pytest.raises(SystemExit):
        bench.parse_args(['--seeds', '0'])


def test_report_of_an_empty_work_dir_is_refused(tmp_path):
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit, match='holds no benchmark'):
        bench.main(['--work-dir', str(work_dir), '--data-root',
                    str(tmp_path), '--report'])
    assert not work_dir.exists()


def test_work_dir_of_another_configuration_is_refused(tmp_path):
    settings = dict(config='a.py', iters=200)
    bench.check_settings(str(tmp_path), settings)
    bench.check_settings(str(tmp_path), dict(settings))  # same: accepted
    before = (tmp_path / 'settings.json').read_text()
    with pytest.raises(SystemExit, match=r'another configuration .*iters'):
        bench.check_settings(str(tmp_path), dict(settings, iters=300))
    assert (tmp_path / 'settings.json').read_text() == before
    # a folder written before `family` existed holds the default
    family = dict(family='us3l')
    with pytest.raises(SystemExit, match=r'another configuration .*family'):
        bench.check_settings(str(tmp_path), dict(settings, family='slimclr'),
                             family)
    assert (tmp_path / 'settings.json').read_text() == before
    bench.check_settings(str(tmp_path), dict(settings, **family), family)
    # ... and now says so
    assert json.loads((tmp_path / 'settings.json').read_text()) == dict(
        settings, **family)


def test_seed_in_training_is_refused(tmp_path):
    work_dir = str(tmp_path / 'work')
    first = bench.lock_seeds(work_dir, [0, 1])
    assert (tmp_path / 'work' / '.lock-seed1').read_text() == str(
        os.getpid())
    with pytest.raises(SystemExit, match=rf'seed 1 .*pid {os.getpid()}'):
        bench.lock_seeds(work_dir, [2, 1])
    # the refused call let go of seed 2, which it held for a moment ...
    bench.lock_seeds(work_dir, [2])[0].close()
    # ... and did not take the others over
    assert (tmp_path / 'work' / '.lock-seed1').read_text() == str(
        os.getpid())
    for lock in first:
        lock.close()
    for lock in bench.lock_seeds(work_dir, [0, 1]):  # released: free again
        lock.close()


def test_main_refuses_a_seed_in_training(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root))
    work_dir = tmp_path / 'work'
    argv = ['--work-dir', str(work_dir), '--data-root', str(data_root),
            '--tiny', '--iters', '4', '--seeds', '2']
    held = bench.lock_seeds(str(work_dir), [1])
    with pytest.raises(SystemExit, match='seed 1 .*being trained'):
        bench.main(argv)
    with pytest.raises(SystemExit, match='seed 1 .*being trained'):
        bench.main(argv + ['--only-seeds', '1'])
    assert not (work_dir / 'runs').exists()
    held[0].close()


def test_only_seeds_must_be_among_the_seeds():
    with pytest.raises(SystemExit):
        bench.parse_args(['--seeds', '2', '--only-seeds', '2'])
    with pytest.raises(SystemExit):
        bench.parse_args(['--only-seeds', '0', '--report'])
    args = bench.parse_args(['--seeds', '3', '--only-seeds', '2', '0'])
    assert args.only_seeds == [2, 0]


def test_config_digest_follows_the_base_files(tmp_path):
    (tmp_path / 'base.py').write_text('model = dict(depth=18)\n')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['base.py']\nlr = 0.1\n")
    first = bench.config_digest(str(child))
    assert bench.config_digest(str(child)) == first
    (tmp_path / 'base.py').write_text('model = dict(depth=34)\n')
    assert bench.config_digest(str(child)) != first


@pytest.mark.slow
def test_end_to_end_on_tiny_fashion_mnist(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root))
    work_dir = tmp_path / 'work'
    argv = [
        SCRIPT, '--work-dir',
        str(work_dir), '--data-root',
        str(data_root), '--iters', '2', '--probe-epochs', '1', '--tiny',
        '--seeds', '2', '--widths', '1.0', '0.25'
    ]
    # seed 1 alone first (as a second shell would): a partial table
    shard = run_tool(argv + ['--only-seeds', '1'], env=ONE_THREAD).stdout
    assert 'pretrain individual_w0.25 seed 1' in shard
    assert not re.search(r'==> pretrain .* seed 0', shard)
    assert 'equal compute: skipped' in shard
    partial = json.loads((work_dir / 'slim_vs_individual.json').read_text())
    assert partial['top1']['US3L (one run)']['1']['n'] == 1
    assert partial['top1']['US3L (one run)']['1']['partial']

    out = run_tool(argv, env=ONE_THREAD).stdout
    assert 'us3l seed 1: done before' in out
    assert 'pretrain individual_w0.25 seed 0' in out
    cell = r'\s*\|\s*(\d+\.\d\d) \+- (\d+\.\d\d)'
    us3l = re.search(r'^\| US3L \(one run\)' + cell * 4, out, re.MULTILINE)
    individual = re.search(
        r'^\| individual' + cell + r'\s*\|\s*-\s*\|\s*-' + cell, out,
        re.MULTILINE)
    assert us3l and individual, out[-3000:]
    for value in us3l.groups() + individual.groups():
        assert 0.0 <= float(value) <= 100.0
    assert re.search(r'^\| individual, equal compute' + cell, out,
                     re.MULTILINE)

    summary = json.loads((work_dir / 'slim_vs_individual.json').read_text())
    us3l_rows = summary['top1']['US3L (one run)']
    assert set(us3l_rows) == {'1', '0.75', '0.5', '0.25'}
    assert set(us3l_rows['1']['values']) == {'0', '1'}
    assert 'partial' not in us3l_rows['1']
    assert us3l_rows['1']['values']['1'] == partial['top1'][
        'US3L (one run)']['1']['values']['1']
    assert set(summary['top1']['individual']) == {'1', '0.25'}
    costs = summary['costs']
    # The same iterations at equal iterations; US3L's sandwich takes three
    # optimizer steps per iteration.
    assert {costs[k]['iters']
            for k in ('us3l', 'individual_w1', 'individual_w0.25')} == {2}
    assert costs['us3l']['optimizer_steps'] == 6
    # equal compute: the two models share the US3L run's training MACs
    shared = sum(costs[f'individual-compute_w{w}']['train_macs']
                 for w in ('1', '0.25'))
    assert shared <= costs['us3l']['train_macs']
    assert (work_dir / 'slim_vs_individual.png').stat().st_size > 0
    diffs = summary['paired_differences']['US3L (one run) - individual']
    assert set(diffs) == {'1', '0.25'}
    assert diffs['1']['mean'] == pytest.approx(
        us3l_rows['1']['mean'] - summary['top1']['individual']['1']['mean'])

    # A second run reuses every result; another configuration is refused.
    again = run_tool(argv, env=ONE_THREAD).stdout
    assert '==> pretrain' not in again and 'done before' in again
    refused = run_tool(argv + ['--iters', '3'], env=ONE_THREAD,
                       check=False)
    assert refused.returncode != 0
    assert 'another configuration' in refused.stderr


@pytest.mark.slow
def test_slimclr_family_end_to_end_on_tiny_fashion_mnist(tmp_path):
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root))
    work_dir = tmp_path / 'work'
    argv = [
        SCRIPT, '--family', 'slimclr', '--work-dir',
        str(work_dir), '--data-root',
        str(data_root), '--iters', '4', '--probe-epochs', '1', '--tiny',
        '--seeds', '1', '--widths', '1.0', '0.25', '--fairness',
        'iterations', '--ablations', 'no-distill', 'probe-no-bn'
    ]
    out = run_tool(argv, env=ONE_THREAD).stdout
    summary = json.loads((work_dir / 'slim_vs_individual.json').read_text())
    rows = summary['top1']
    assert set(rows) == {
        'SlimCLR-MoCoV2 (one run)', 'SlimCLR-MoCoV2 no-distill',
        'SlimCLR-MoCoV2 probe-no-bn', 'individual MoCoV2'
    }, out[-3000:]
    assert set(rows['SlimCLR-MoCoV2 (one run)']) == {
        '1', '0.75', '0.5', '0.25'
    }
    assert set(rows['individual MoCoV2']) == {'1', '0.25'}
    # The probe ablation probes the one run's checkpoint: no pre-training.
    assert 'pretrain slimclr_probe-no-bn' not in out
    assert 'pretrain slimclr_no-distill seed 0' in out
    # Each ablation against the individual models as well.
    diffs = summary['paired_differences'][
        'SlimCLR-MoCoV2 no-distill - individual MoCoV2']
    assert set(diffs) == {'1', '0.25'}
    assert diffs['0.25']['mean'] == pytest.approx(
        rows['SlimCLR-MoCoV2 no-distill']['0.25']['mean'] -
        rows['individual MoCoV2']['0.25']['mean'])
    costs = summary['costs']
    assert costs['slimclr']['optimizer_steps'] == 4  # one per iteration
    assert costs['individual_w0.25']['train_macs'] < \
        costs['individual_w1']['train_macs'] < costs['slimclr']['train_macs']

    # --report with a third seed: the finished runs' tables, nothing trained
    report = run_tool(argv[:argv.index('--seeds')] + ['--seeds', '2'] +
                      argv[argv.index('--seeds') + 2:] + ['--report'],
                      env=ONE_THREAD).stdout
    assert '==> pretrain' not in report and '==> probe' not in report
    # (one seed of three: the value alone, no spread)
    assert re.search(r'^\| individual MoCoV2 \| \d+\.\d\d \(n=1\) \|',
                     report, re.MULTILINE), report[-2000:]
