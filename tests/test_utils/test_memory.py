# Copyright (c) slim_plugins contributors. All rights reserved.
"""PeakResidentMemory sees a transient allocation."""
import subprocess
import sys

import torch

from slim_plugins.utils import PeakResidentMemory, fixed_mmap_env


def test_peak_resident_memory_sees_a_transient_tensor():
    with PeakResidentMemory() as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert memory.growth >= 48 * 2**20


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
