# Copyright (c) slim_plugins contributors. All rights reserved.
"""benchmarks/calibration_budget.py: a tiny end-to-end run, the calibrated
statistics it stores, and its refusal of bad input."""
import json
import os
import os.path as osp

import pytest
import torch
from conftest import (REPO_ROOT, TEST_CONFIGS, load_tool, run_tool,
                      write_tiny_fashion_mnist)

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.utils.checkpoint import load_checkpoint_file

SCRIPT = 'benchmarks/calibration_budget.py'
PROBE = osp.join(TEST_CONFIGS, 'tiny_fashion_mnist_probe.py')
bench = load_tool(SCRIPT)
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS='1')


def _us3l_checkpoint(path: str) -> None:
    """A tiny US3L-style checkpoint: backbone.* keys, no BN statistics."""
    torch.manual_seed(1)
    backbone = SlimResNet(
        depth=18, stem='imagenet', in_channels=1, stem_channels=8,
        base_channels=8, width_mode='universal', width_range=(0.25, 1.0),
        channel_rule='divisible8', track_running_stats=False)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    assert not any('running_mean' in k for k in state)
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), path)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp('calibration_budget')
    data_root = root / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root))
    checkpoint = str(root / 'us3l.pth')
    _us3l_checkpoint(checkpoint)
    return root, str(data_root), checkpoint


def _args(data_root: str, checkpoint: str, *extra: str) -> list:
    return [
        '--config', PROBE, '--checkpoint', checkpoint, '--data-root',
        data_root, *extra
    ]


def test_end_to_end_on_tiny_fashion_mnist(inputs):
    root, data_root, checkpoint = inputs
    work_dir = root / 'work'
    # The tiny probe config: batches of 8, so 16 images = 2 batches/epoch.
    result = run_tool([
        SCRIPT, *_args(data_root, checkpoint, '--widths', '1.0', '0.25',
                       '--batches', '2', '1', '--ema-epochs', '1',
                       '--train-subset', '12', '--probe-epochs', '2',
                       '--work-dir', str(work_dir))
    ],
                      env=ONE_THREAD)
    out = result.stdout
    assert 'EMA (US3L), 1 ep' in out and 'calibration seconds' in out

    summary = json.loads((work_dir / bench.JSON_NAME).read_text())
    assert summary['widths'] == [1.0, 0.25]
    assert summary['batches'] == [1, 2]
    assert summary['settings'] == ['cumulative_1', 'cumulative_2', 'ema_1ep']
    assert summary['calib_batches_per_epoch'] == 2
    assert summary['probe']['train_images'] == 12
    assert summary['probe']['epochs'] == 2
    assert summary['test_images'] == 8
    assert set(summary['results']) == {'1', '0.25'}
    for width, dim in (('1', 64), ('0.25', 16)):
        row = summary['results'][width]
        assert set(row) == set(summary['settings'])
        for key, calib_batches in (('cumulative_1', 1), ('cumulative_2', 2),
                                   ('ema_1ep', 2)):
            cell = row[key]
            assert cell['calib_batches'] == calib_batches
            assert cell['calib_images'] == 8 * calib_batches
            assert cell['feature_dim'] == dim
            assert cell['calib_seconds'] > 0
            # 8 test images: top-1 is a multiple of 12.5 %.
            assert cell['accuracy/top1'] / 12.5 == int(
                cell['accuracy/top1'] / 12.5)
        diff = 'running_mean_rel_diff_to_cumulative_2'
        assert row['cumulative_2'][diff] == 0.0
        assert row['cumulative_1'][diff] > 0.0
    assert (work_dir / bench.PNG_NAME).stat().st_size > 0

    stats = load_checkpoint_file(work_dir / bench.STATS_NAME)
    for width in ('1', '0.25'):
        one, two, ema = (stats[width][k] for k in summary['settings'])
        assert set(one) == set(two) == set(ema)
        for name in one:
            m1, v1 = one[name]['running_mean'], one[name]['running_var']
            # More batches change the statistics.
            assert not torch.allclose(two[name]['running_mean'], m1)
            # The cumulative average of batch 1 and 2 holds the stats of
            # batch 2: m2 = 2 * avg - m1.
            m2 = 2 * two[name]['running_mean'] - m1
            v2 = 2 * two[name]['running_var'] - v1
            # The EMA recipe reads the same two batches, from a fresh
            # start (mean 0, var 1) with momentum 0.1:
            # s = 0.9 * (0.9 * s0 + 0.1 * s1) + 0.1 * s2
            torch.testing.assert_close(
                ema[name]['running_mean'], 0.09 * m1 + 0.1 * m2,
                rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(
                ema[name]['running_var'], 0.81 + 0.09 * v1 + 0.1 * v2,
                rtol=1e-4, atol=1e-5)
    # Width 0.25 calibrates the active (leading) channels: c(64, 0.25) = 16.
    last = 'layer4.1.bn2'
    assert stats['0.25']['cumulative_1'][last]['running_mean'].numel() == 16
    assert stats['1']['cumulative_1'][last]['running_mean'].numel() == 64


def test_cached_feature_probe_learns_a_separable_problem():
    gen = torch.Generator().manual_seed(0)
    centres = torch.eye(3, 5) * 8
    labels = torch.arange(60) % 3
    feats = centres[labels] + torch.randn(60, 5, generator=gen)
    settings = dict(
        num_classes=3, feature_norm=True, optimizer='SGD',
        optimizer_args=dict(lr=0.5, momentum=0.9), batch_size=16, epochs=20,
        iters=80, schedule='cosine')
    top1 = bench.train_probe((feats[:45], labels[:45]),
                             (feats[45:], labels[45:]), settings, seed=0)
    assert top1 == 100.0
    # Same seed, same result: every setting gets the same probe.
    assert bench.train_probe((feats[:45], labels[:45]),
                             (feats[45:], labels[45:]), settings,
                             seed=0) == top1


def test_bad_input(inputs, capsys):
    root, data_root, checkpoint = inputs
    with pytest.raises(SystemExit):
        bench.main(_args(data_root, checkpoint, '--batches', '0', '5'))
    assert 'at least one batch' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(_args(data_root, checkpoint, '--ema-epochs', '0'))
    assert 'at least one epoch' in capsys.readouterr().err
    with pytest.raises(SystemExit, match='outside the backbone'):
        bench.main(_args(data_root, checkpoint, '--widths', '1.0', '0.1'))
    with pytest.raises(SystemExit, match='does not exist'):
        bench.main(
            _args(data_root, str(root / 'missing.pth'), '--batches', '1'))
    with pytest.raises(SystemExit, match='only 2 batches'):
        bench.main(
            _args(data_root, checkpoint, '--batches', '3', '--widths', '1.0',
                  '--work-dir', str(root / 'bad')))
    with pytest.raises(SystemExit, match='larger than the training set'):
        bench.main(
            _args(data_root, checkpoint, '--batches', '1', '--widths', '1.0',
                  '--work-dir', str(root / 'bad')))


def test_checkpoint_of_another_architecture_fails(inputs, tmp_path):
    _, data_root, _ = inputs
    path = str(tmp_path / 'r34.pth')
    backbone = SlimResNet(depth=34, stem='imagenet', in_channels=1,
                          stem_channels=8, base_channels=8)
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in backbone.state_dict().items()
        }), path)
    with pytest.raises(SystemExit, match='does not fit the backbone'):
        bench.main(_args(data_root, path, '--batches', '1', '--widths',
                         '1.0', '--train-subset', '8'))


def test_repo_root_is_the_default_base():
    args = bench.parse_args(['--checkpoint', 'x.pth'])
    assert args.config == osp.join(REPO_ROOT, bench.US3L_PROBE_CFG)
    assert args.checkpoint == osp.join(REPO_ROOT, 'x.pth')
    assert args.batches == [1, 5, 20, 50, 200]
