# Copyright (c) slim_plugins contributors. All rights reserved.
"""benchmarks/mvmr_cost.py: the naive reference, the size rule, bad input,
end to end on tiny sizes."""
import json

import pytest
import torch
from conftest import load_tool, run_tool

from slim_plugins.models.losses import distance_correlation

bench = load_tool('benchmarks/mvmr_cost.py')


def test_naive_reference_equals_the_gram_form():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(9, 5, generator=gen, dtype=torch.float64)
    z = x[:, :3] ** 2 + 0.1 * torch.randn(9, 3, generator=gen,
                                          dtype=torch.float64)
    torch.testing.assert_close(
        bench.naive_distance_correlation(x, z), distance_correlation(x, z))


def test_naive_size_by_hand():
    # 256 x 256 pairs x (139968 + 8192) floats x 4 bytes
    assert bench.naive_bytes(256, 139968, 8192) == 256 * 256 * 148160 * 4
    assert bench.naive_bytes(256, 139968, 8192) / 2**30 == pytest.approx(
        36.17, abs=0.01)


@pytest.mark.parametrize('argv,message', [
    (['--batch-size', '1'], 'must be >= 2'),
    (['--dims', '0'], '--dims, --z-dim and --repeats must be >= 1'),
])
def test_bad_input(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_on_tiny_sizes(tmp_path):
    out = tmp_path / 'cost.json'
    result = run_tool([
        'benchmarks/mvmr_cost.py', '--batch-size', '8', '--dims', '16',
        '64', '--z-dim', '8', '--naive-max-gib', '0.00001',
        '--step-batch', '4', '--repeats', '1', '--out', str(out)
    ])
    assert 'hand-crafted features' in result.stdout
    data = json.loads(out.read_text())
    small, large = data['dcor']
    # 8 x 8 x (16 + 8) x 4 bytes = 6 KiB runs; 8 x 8 x 72 x 4 = 18 KiB not
    assert small['naive'] is not None and large['naive'] is None
    assert small['naive_over_gram_time'] > 0
    assert 0 < data['step']['representations_over_step'] < 1
    assert set(data['step']['representation_seconds']) == {
        'pixel', 'augmentedpixel', 'hog', 'localstd'}
