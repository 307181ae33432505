# Copyright (c) slim_plugins contributors. All rights reserved.
"""PeakResidentMemory sees a transient allocation."""
import json
import subprocess
import sys

from slim_plugins.utils import fixed_mmap_env

# The way the benchmarks measure: a fresh process with a fixed mmap
# threshold, so a freed block leaves the process at once and the next one is
# fresh pages. (In a long-lived process, such as the whole test suite, the
# allocator may hand out a freed block that is still resident: no growth.)
MEASURE = '''
import json, torch
from slim_plugins.utils import PeakResidentMemory
out = dict(transient=[], before=None)
for _ in range(2):  # the second block could reuse what the first left
    with PeakResidentMemory() as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    out['transient'].append(memory.growth)
    out['exact'] = memory.exact
block = torch.ones(128 * 2**20 // 4)
del block
with PeakResidentMemory() as memory:
    small = torch.ones(2**20 // 4)
    del small
out['before'] = memory.growth
print(json.dumps(out))
'''


def test_peak_resident_memory_sees_transient_tensors_only_in_the_block():
    result = subprocess.run([sys.executable, '-c', MEASURE],
                            env=fixed_mmap_env(), capture_output=True,
                            text=True, check=True, timeout=120)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out['exact']  # the kernel's high-water mark, not sampling
    assert all(g >= 60 * 2**20 for g in out['transient']), out
    # the 128 MiB peak before the block is not counted in it
    assert out['before'] < 32 * 2**20, out


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
                         capture_output=True, text=True, check=True,
                         timeout=120)
    assert int(out.stdout.strip()) < 8
