# Copyright (c) slim_plugins contributors. All rights reserved.
"""CIFAR20: CIFAR-100 images with the coarse labels."""
import os.path as osp
import pickle

import pytest
from conftest import run_tool

from slim_plugins.datasets import CIFAR20


def test_coarse_labels_replace_the_fine_ones(tmp_path):
    out = str(tmp_path)
    run_tool([
        'tools/data/make_tiny_cifar.py', '--out', out, '--num-train', '20',
        '--num-test', '10', '--seed', '0', '--cifar100'
    ])
    with open(osp.join(out, 'cifar-100-python', 'train'), 'rb') as f:
        entry = pickle.load(f, encoding='latin1')
    dataset = CIFAR20(data_root=out, split='train', pipeline=[])
    assert len(dataset) == 20 and len(dataset.CLASSES) == 20
    assert [dataset.get_data_info(i)['gt_label'] for i in range(20)] == \
        entry['coarse_labels']
    assert entry['coarse_labels'] != entry['fine_labels']
    # A CIFAR-10-style pickle (no coarse labels) is refused by name.
    del entry['coarse_labels']
    with open(osp.join(out, 'cifar-100-python', 'train'), 'wb') as f:
        pickle.dump(entry, f)
    with pytest.raises(ValueError, match='has no coarse_labels'):
        CIFAR20(data_root=out, split='train', pipeline=[])
