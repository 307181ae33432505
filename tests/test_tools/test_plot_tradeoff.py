# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/analysis_tools/plot_tradeoff.py on a real tools/test.py result."""
import glob
import json
import os
import os.path as osp

import pytest
from conftest import REPO_ROOT, load_tool, run_tool, tiny_slim_simclr_knn
from matplotlib import image as mpimg
from mmengine.config import Config

import slim_plugins  # noqa: F401
from slim_plugins.models.utils import width_complexity
from slim_plugins.registry import MODELS

TEST = osp.join(REPO_ROOT, 'tools', 'test.py')

EXTRA = """
test_cfg = dict(type='MultiWidthTestLoop', widths=[1.0, 0.5, 0.25])
custom_hooks = custom_hooks + [
    dict(type='BNCalibrationHook', widths=[1.0, 0.5, 0.25], num_batches=2,
         dataloader=memory_dataloader),
]
"""


@pytest.fixture(scope='module')
def real_results(tmp_path_factory, tiny_cifar10):
    """(config, multi_width_test.json) of a real tiny tools/test.py run."""
    tmp = tmp_path_factory.mktemp('tradeoff')
    config, checkpoint, _ = tiny_slim_simclr_knn(tmp, tiny_cifar10, EXTRA)
    # One thread: two on a shared 2-core machine mostly wait for each other.
    run_tool([TEST, config, checkpoint, '--work-dir',
              str(tmp / 'work')],
             env=dict(os.environ, OMP_NUM_THREADS='1'))
    files = glob.glob(str(tmp / 'work' / '*' / 'multi_width_test.json'))
    assert len(files) == 1
    return config, files[0]


def _plot(argv):
    load_tool('tools/analysis_tools/plot_tradeoff.py').main(argv)


def test_table_and_png(tmp_path, real_results, capsys):
    config, results = real_results
    # A second run in the loop's format, with two records: the last counts.
    with open(results) as f:
        record = json.loads(f.readline())
    other = tmp_path / 'individual.json'
    stale = dict(record, results=[dict(r, **{'knn/top1_k20': -1.})
                                  for r in record['results']])
    fresh = dict(record, results=[
        dict(r, **{'knn/top1_k20': 10. * i})
        for i, r in enumerate(record['results'])
    ])
    other.write_text(json.dumps(stale) + '\n' + json.dumps(fresh) + '\n')
    out_dir = tmp_path / 'plots'
    _plot([
        results,
        str(other), '--config', config, '--input-shape', '3', '32', '32',
        '--labels', 'slimmable', 'individual', '--out-dir',
        str(out_dir)
    ])

    png = out_dir / 'tradeoff.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert mpimg.imread(str(png)).ndim == 3

    summary = json.loads((out_dir / 'tradeoff.json').read_text())
    assert summary['metric'] == 'knn/top1_k20'
    cfg = Config.fromfile(config)
    backbone = MODELS.build(cfg.model.backbone)
    costs = width_complexity(backbone, [1.0, 0.5, 0.25], (3, 32, 32))
    md = (out_dir / 'tradeoff.md').read_text()
    assert md in capsys.readouterr().out
    for run, label in zip(summary['runs'], ['slimmable', 'individual']):
        assert run['label'] == label and f'### {label}' in md
        assert [r['width'] for r in run['rows']] == [1.0, 0.5, 0.25]
        for row, cost in zip(run['rows'], costs):
            assert (row['macs'], row['params']) == (cost.macs, cost.params)
            assert (f'| {cost.width:g} | {cost.macs / 1e6:.3f} | '
                    f'{cost.params / 1e6:.3f} | ') in md
    # Metric values: the real run's, and the last record of the other file.
    real = {r['width']: r['knn/top1_k20'] for r in record['results']}
    for row in summary['runs'][0]['rows']:
        assert row['knn/top1_k20'] == real[row['width']]
    assert [r['knn/top1_k20'] for r in summary['runs'][1]['rows']] == \
        [0., 10., 20.]
    assert '| 0.5 |' in md and '| 10.00 |' in md


def test_bad_input(tmp_path, real_results):
    config, results = real_results
    out = ['--out-dir', str(tmp_path / 'o')]
    with pytest.raises(SystemExit, match='no metric .accuracy/top5'):
        _plot([results, '--config', config, '--metric', 'accuracy/top5',
               *out])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"accuracy": 1}\n')
    with pytest.raises(SystemExit, match='no "results" list'):
        _plot([str(bad), '--config', config, *out])
    with pytest.raises(SystemExit, match='2 labels for 1'):
        _plot([results, '--config', config, '--labels', 'a', 'b', *out])
    assert not (tmp_path / 'o').exists()


def test_best_epoch_is_an_extra_column(tmp_path, real_results):
    """SlimCLR's best epoch (chosen by the widest width) next to the last."""
    config, _ = real_results

    def record(epoch, values):
        return dict(stage='val', epoch=epoch, iter=10 * epoch, results=[
            {'width': w, 'accuracy/top1': v}
            for w, v in zip((1.0, 0.5, 0.25), values)])

    results = tmp_path / 'multi_width_val.json'
    results.write_text('\n'.join(
        json.dumps(r) for r in (record(1, [40., 30., 20.]),
                                record(2, [50., 31., 25.]),
                                record(3, [45., 41., 35.]))) + '\n')
    out_dir = tmp_path / 'plots'
    _plot([str(results), '--config', config, '--input-shape', '3', '32',
           '32', '--out-dir', str(out_dir)])
    rows = json.loads((out_dir / 'tradeoff.json').read_text())['runs'][0][
        'rows']
    column = 'accuracy/top1 (best epoch 2)'
    # Last epoch in the metric column, epoch 2 (best at width 1) beside it.
    assert [r['accuracy/top1'] for r in rows] == [45., 41., 35.]
    assert [r[column] for r in rows] == [50., 31., 25.]
    assert column in (out_dir / 'tradeoff.md').read_text()
