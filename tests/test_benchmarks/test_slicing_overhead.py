# Copyright (c) slim_plugins contributors. All rights reserved.
"""benchmarks/slicing_overhead.py: its statistics and a tiny whole run."""
import os
import re

import pytest
from conftest import load_tool, run_tool

SCRIPT = 'benchmarks/slicing_overhead.py'
bench = load_tool(SCRIPT)


def test_paired_statistics_compare_each_round_with_its_reference():
    # ratios 2, 2, 3, 4: median 2.5; quartiles by the exclusive method at
    # positions 1.25 and 3.75 of 4: 2 and 3 + 0.75 * (4 - 3)
    times = [0.002, 0.004, 0.009, 0.016]
    reference = [0.001, 0.002, 0.003, 0.004]
    assert bench.paired_ratio(times, reference) == '2.500 [2.00-3.75]'
    # differences 1, 2, 6, 12 ms: median 4
    assert bench.paired_extra_ms(times, reference) == '+4.0'


def test_tiny_run_prints_one_row_per_width_in_every_column():
    result = run_tool([
        SCRIPT, '--depth', '18', '--batch', '2', '--size', '8', '--widths',
        '1.0', '0.5', '--reps', '3', '--warmup', '1', '--threads', '1',
        '--control', '--existing-grad', '--malloc', 'default'
    ],
                      env=dict(os.environ, OMP_NUM_THREADS='1'))
    lines = result.stdout.splitlines()
    assert 'existing .grad before each step' in lines[0]
    assert 'default malloc settings' in lines[0]
    header = lines[2].split()
    assert header.count('ratio') == 3  # control, autograd, in-place
    rows = [line.split() for line in lines[3:]]
    assert [row[0] for row in rows] == ['1.00', '0.50']
    for row in rows:
        # width, weights MB, narrow ms, faults, then (ms, ratio, [q1-q3],
        # extra, faults) x3
        assert len(row) == 4 + 3 * 5
        assert all(re.fullmatch(r'\[\d+\.\d\d-\d+\.\d\d\]', q)
                   for q in row[6::5])
        assert all(f.isdigit() for f in row[3::5])
    # the active weights at width 0.5 are about a quarter of the full ones
    assert 0.2 < float(rows[1][1]) / float(rows[0][1]) < 0.3


# A benchmark run, end to end.
@pytest.mark.slow
def test_freed_memory_is_kept_by_default_so_timed_steps_take_no_faults():
    args = [
        SCRIPT, '--depth', '18', '--batch', '8', '--size', '32', '--widths',
        '0.5', '--reps', '5', '--warmup', '4', '--threads', '1', '--modes',
        'in-place'
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    kept = run_tool(args, env=env).stdout.splitlines()
    default = run_tool(args + ['--malloc', 'default'], env=env).stdout
    assert 'M_TRIM_THRESHOLD = M_MMAP_THRESHOLD = 1 GiB' in kept[0]
    kept_row, default_row = kept[3].split(), default.splitlines()[3].split()
    # narrow, in-place: glibc's default re-touches fresh pages every step
    # (thousands of faults here, whichever network pays them); kept memory
    # is reused, but for a few stray pages.
    default_faults = int(default_row[3]) + int(default_row[8])
    assert default_faults > 500, default_row
    assert int(kept_row[3]) + int(kept_row[8]) < default_faults / 10, (
        kept_row, default_row)
