# Copyright (c) slim_plugins contributors. All rights reserved.
"""benchmarks/gated_cost.py end to end (small batch, one repeat)."""
import json

import pytest
from conftest import load_tool, run_tool

SCRIPT = 'benchmarks/gated_cost.py'


@pytest.mark.slow
def test_end_to_end(tmp_path):
    out = tmp_path / 'gated_cost.json'
    result = run_tool([
        SCRIPT, '--batch-size', '4', '--repeats', '1', '--out',
        str(out)
    ])
    assert 'DualBranchVICReg / dense VICReg' in result.stdout
    data = json.loads(out.read_text())
    infer = data['inference']
    assert 0 < infer['exported_macs_over_dense'] <= \
        infer['gated_macs_over_dense'] + 1e-6 < 1.01
    assert data['train']['dual_over_vicreg'] > 0


def test_bad_input():
    bench = load_tool(SCRIPT)
    with pytest.raises(SystemExit):
        bench.parse_args(['--batch-size', '1'])
    with pytest.raises(SystemExit):
        bench.parse_args(['--repeats', '0'])
