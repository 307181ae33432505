# Copyright (c) slim_plugins contributors. All rights reserved.
"""benchmarks/emp_ssl_cost.py: its reference TCR, memory probe and fit."""
import json

import pytest
import torch
from conftest import load_tool, run_tool

from slim_plugins.models.losses.total_coding_rate import coding_rate

SCRIPT = 'benchmarks/emp_ssl_cost.py'
bench = load_tool(SCRIPT)


@pytest.mark.parametrize('batch,dim', [(10, 32), (32, 10)])
def test_dense_reference_equals_the_sylvester_form(batch, dim):
    z = torch.nn.functional.normalize(
        torch.randn(batch, dim, dtype=torch.float64), dim=1)
    torch.testing.assert_close(
        bench.dense_coding_rate(z), coding_rate(z), rtol=1e-10, atol=1e-10)


def test_linear_fit_on_a_hand_checkable_case():
    # 10 + 3 n exactly, then one point 2 above the line
    fit = bench.linear_fit({2: 16, 4: 22, 8: 34})
    assert fit['per_patch_bytes'] == pytest.approx(3.0)
    assert fit['fixed_bytes'] == pytest.approx(10.0)
    assert fit['max_deviation_over_largest'] == pytest.approx(0.0, abs=1e-12)
    fit = bench.linear_fit({2: 16, 4: 24, 8: 34})
    assert fit['max_deviation_over_largest'] > 0


def test_bad_input():
    with pytest.raises(SystemExit):
        bench.parse_args(['--patches', '1', '4'])


@pytest.mark.slow
def test_end_to_end(tmp_path):
    out = tmp_path / 'cost.json'
    result = run_tool([
        SCRIPT, '--patches', '2', '4', '--batch-size', '8', '--num-patches',
        '2', '--repeats', '1', '--tcr-batch', '10', '--tcr-dim', '32',
        '--out',
        str(out)
    ])
    assert 'd x d form / Sylvester form' in result.stdout
    data = json.loads(out.read_text())
    assert data['tcr']['abs_diff_sylvester_float64'] < 1e-3
    assert data['step']['per_patch_over_per_view'] > 0
    assert set(data['memory']['growth_bytes']) == {'2', '4'}
