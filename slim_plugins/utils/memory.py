# Copyright (c) slim_plugins contributors. All rights reserved.
"""Peak resident memory of a block of code (CPU benchmarks)."""
import os
import re
import resource
import threading
import time
import warnings
from typing import Dict

_STATUS = '/proc/self/status'
_CLEAR_REFS = '/proc/self/clear_refs'


def resident_bytes() -> int:
    """Current resident memory of this process (Linux ``/proc``)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _high_water_mark() -> int:
    """The kernel's peak resident memory of this process (``VmHWM``)."""
    with open(_STATUS) as f:
        match = re.search(r'^VmHWM:\s+(\d+) kB', f.read(), re.MULTILINE)
    return int(match.group(1)) * 1024


def _reset_high_water_mark() -> bool:
    """Set ``VmHWM`` to the current resident memory (Linux >= 4.0).

    Returns:
        bool: False where ``/proc/self/clear_refs`` cannot be written.
    """
    try:
        with open(_CLEAR_REFS, 'w') as f:
            f.write('5')
    except OSError:
        return False
    return True


def fixed_mmap_env() -> Dict[str, str]:
    """This environment with a fixed glibc mmap threshold (64 KiB).

    A child process started with it returns every large tensor's memory at
    once when the tensor is freed, so its resident memory follows the live
    tensors (glibc's adaptive threshold would keep freed blocks).
    """
    return dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 1024))


class PeakResidentMemory:
    """Highest resident memory while the block runs, minus the memory when
    it started.

    The peak is the kernel's high-water mark, reset when the block starts
    (``/proc/self/clear_refs``), so an allocation that lives for a
    microsecond is counted however busy the machine is. Where the kernel
    does not allow the reset, a thread samples the resident memory every
    millisecond instead, which can miss short peaks on a loaded machine: a
    warning says so and ``exact`` is False.

    Memory the allocator kept from earlier frees and hands out again does
    not raise the resident memory; benchmarks therefore measure in a fresh
    process started with :func:`fixed_mmap_env`.

    Example:
        >>> with PeakResidentMemory() as memory:
        ...     block = bytearray(64 * 2**20)
        >>> memory.growth >= 0
        True
    """

    def __enter__(self) -> 'PeakResidentMemory':
        self.exact = _reset_high_water_mark()
        self.start = self.peak = resident_bytes()
        self._thread = None
        if not self.exact:
            warnings.warn(f'{_CLEAR_REFS} is not writable: the peak memory '
                          'is sampled every millisecond and can miss short '
                          'peaks')
            self._running = True
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while self._running:
            self.peak = max(self.peak, resident_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._running = False
            self._thread.join()
        else:
            self.peak = max(self.peak, _high_water_mark())
        self.peak = max(self.peak, resident_bytes())

    @property
    def growth(self) -> int:
        """Bytes by which the peak exceeded the start."""
        return self.peak - self.start
