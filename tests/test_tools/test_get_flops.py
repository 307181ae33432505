# Copyright (c) slim_plugins contributors. All rights reserved.
import os.path as osp

from conftest import TEST_CONFIGS, run_tool

CONFIG = osp.join(TEST_CONFIGS, 'slim_resnet18_cifar_classifier.py')


def test_get_flops_table():
    # Stem/base 16 at width 1.0 is ResNet-18 at width 0.25: 35.05 M MACs
    # (the spec's hand-derived 35 M).
    result = run_tool([
        'tools/analysis_tools/get_flops.py', CONFIG, '--widths', '1.0',
        '0.5', '--shape', '32', '32'
    ])
    lines = result.stdout.strip().splitlines()
    assert 'input 32x32, backbone' in lines[0]
    row = lines[2].split()
    assert row[0] == '1.000' and row[1] == '35.05'
    assert lines[3].split()[0] == '0.500'
    assert '(8, 16, 32, 64)' in lines[3]
