# Copyright (c) slim_plugins contributors. All rights reserved.
"""CIFAR loaders that accept CIFAR pickles other than the official files."""
from mmpretrain.datasets import CIFAR10, CIFAR100

from slim_plugins.registry import DATASETS


def _no_md5(file_list: list) -> list:
    # mmpretrain's `_check_integrity` skips the md5 comparison for None.
    return [[name, None] for name, _ in file_list]


@DATASETS.register_module()
class UncheckedCIFAR10(CIFAR10):
    """``CIFAR10`` reading any file in the CIFAR-10 pickle format.

    mmpretrain compares every batch file with the md5 sums of the official
    release, so generated data (``tools/data/make_tiny_cifar.py``) or a
    re-packed subset would be rejected. This loader checks that the files
    exist, not their checksums; everything else is mmpretrain's ``CIFAR10``.
    """

    train_list = _no_md5(CIFAR10.train_list)
    test_list = _no_md5(CIFAR10.test_list)


@DATASETS.register_module()
class UncheckedCIFAR100(CIFAR100):
    """``CIFAR100`` reading any file in the CIFAR-100 pickle format.

    See :class:`UncheckedCIFAR10`.
    """

    train_list = _no_md5(CIFAR100.train_list)
    test_list = _no_md5(CIFAR100.test_list)
