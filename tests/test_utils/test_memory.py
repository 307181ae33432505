# Copyright (c) slim_plugins contributors. All rights reserved.
"""PeakResidentMemory sees a transient allocation."""
import subprocess
import sys

import torch

from slim_plugins.utils import PeakResidentMemory, fixed_mmap_env


def test_peak_resident_memory_sees_a_transient_tensor():
    # Twice, so the second block could reuse memory the first left behind;
    # 64 MiB is above glibc's largest adaptive mmap threshold (32 MiB), so
    # each block is fresh pages.
    for _ in range(2):
        with PeakResidentMemory() as memory:
            block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
            del block
        assert memory.exact  # the kernel's high-water mark, not sampling
        assert memory.growth >= 60 * 2**20


def test_peak_resident_memory_ignores_what_came_before():
    block = torch.ones(128 * 2**20 // 4)
    del block
    with PeakResidentMemory() as memory:
        small = torch.ones(2**20 // 4)
        del small
    assert memory.growth < 32 * 2**20


def test_fixed_mmap_env_returns_freed_memory_at_once():
    # A bare interpreter (numpy only): glibc's adaptive threshold would
    # keep the freed 16 MiB blocks resident.
    code = ('import numpy, resource\n'
            'def rss():\n'
            '    with open("/proc/self/statm") as f:\n'
            '        return int(f.read().split()[1]) * '
            'resource.getpagesize()\n'
            'start = rss()\n'
            'for _ in range(3):\n'
            '    block = numpy.ones(16 * 2**20 // 8)\n    del block\n'
            'print((rss() - start) // 2**20)')
    out = subprocess.run([sys.executable, '-c', code], env=fixed_mmap_env(),
                         capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) < 8
