# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/calibrate_bn.py: calibrated checkpoint usable by tools/test.py."""
import copy
import json
import os
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, load_tool, run_tool, tiny_slim_simclr_knn
from mmengine.runner import Runner

import slim_plugins  # noqa: F401
from slim_plugins.engine.hooks.bn_calibration_hook import calibration_forward
from slim_plugins.registry import MODELS
from slim_plugins.utils.bn_calibration import calibrate_bn, get_bank
from slim_plugins.utils.checkpoint import load_checkpoint_file

TEST = osp.join(REPO_ROOT, 'tools', 'test.py')
# Two threads on a shared 2-core machine spend most of their time waiting.
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS='1')

# No calibration hook: the widths' BN statistics must come from the
# checkpoint.
EXTRA = """
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='UncheckedCIFAR10', data_root=data_root,
                 split='train', pipeline=pipeline))
test_dataloader = dict(test_dataloader, batch_size=4)
test_evaluator = dict(test_evaluator,
                      knn_cfgs=[dict(k=1, distance='euclidean')])
test_cfg = dict(type='MultiWidthTestLoop', widths=[1.0, 0.5])
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
"""


@pytest.fixture
def setup(tmp_path, tiny_cifar10):
    return tiny_slim_simclr_knn(tmp_path, tiny_cifar10, EXTRA)


def _expected_bank(cfg, checkpoint, widths, num_batches):
    """Calibrate in-process on the same (unshuffled) test data."""
    model = MODELS.build(cfg.model)
    model.load_state_dict(load_checkpoint_file(checkpoint)['state_dict'])
    loader = Runner.build_dataloader(
        copy.deepcopy(cfg.test_dataloader), seed=0)
    calibrate_bn(model.backbone, loader,
                 calibration_forward(model, model.backbone), widths,
                 num_batches)
    return get_bank(model.backbone).state_dict()


def test_calibrate_then_test(tmp_path, setup, capsys):
    config, checkpoint, cfg = setup
    out = tmp_path / 'calibrated' / 'model.pth'
    load_tool('tools/calibrate_bn.py').main([
        config, checkpoint, '--widths', '1.0', '0.5', '--num-batches', '3',
        '--split', 'test', '--out',
        str(out)
    ])
    # One tqdm bar per width.
    stdout = capsys.readouterr().out
    assert 'width 1: 100%' in stdout and 'width 0.5: 100%' in stdout
    saved = load_checkpoint_file(out)
    assert saved['meta']['bn_calibration']['widths'] == [1.0, 0.5]
    assert saved['meta']['epoch'] == 1
    state = saved['state_dict']
    source = load_checkpoint_file(checkpoint)['state_dict']
    # Weights and BN buffers unchanged; only the bank was added.
    for key, value in source.items():
        assert torch.equal(state[key], value), key
    prefix = 'backbone.bn_calibration.'
    bank = {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}
    assert {prefix + k for k in bank} == set(state) - set(source)
    assert {k.split('__')[0] for k in bank} == {'w1', 'w0_5'}
    expected = _expected_bank(cfg, checkpoint, [1.0, 0.5], 3)
    assert set(expected) == set(bank)
    for key, value in expected.items():
        torch.testing.assert_close(bank[key], value, msg=key)

    # tools/test.py evaluates both widths from the stored statistics.
    metrics_file = tmp_path / 'metrics.json'
    run_tool([
        TEST, config,
        str(out), '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(metrics_file), '--out-item', 'metrics'
    ],
             env=ONE_THREAD)
    metrics = json.loads(metrics_file.read_text())
    assert set(metrics) == {'knn/top1_k1@w1', 'knn/top1_k1@w0.5'}


def _error(argv):
    tool = load_tool('tools/calibrate_bn.py')
    with pytest.raises(SystemExit) as info:
        tool.main(argv)
    return str(info.value.code)


def test_errors(tmp_path, setup):
    config, checkpoint, _ = setup
    out = str(tmp_path / 'out.pth')
    message = _error([config, str(tmp_path / 'nope.pth'), '--out', out])
    assert 'nope.pth' in message and 'does not exist' in message

    message = _error([config, checkpoint, '--widths', '1.0', '0.1', '--out',
                      out])
    assert 'width=0.1 is outside width_range' in message

    message = _error([config, checkpoint, '--widths', '0.5',
                      '--num-batches', '5', '--split', 'test', '--out', out])
    assert 'only 4 batches' in message

    # Strict loading names the keys that do not fit.
    state = load_checkpoint_file(checkpoint)['state_dict']
    state.pop('backbone.conv1.weight')
    state['backbone.extra.weight'] = torch.zeros(1)
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict=state), bad)
    message = _error([config, bad, '--widths', '1.0', '--out', out])
    assert 'backbone.conv1.weight' in message
    assert 'backbone.extra.weight' in message
    assert not osp.exists(out)
