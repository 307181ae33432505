# Copyright (c) slim_plugins contributors. All rights reserved.
"""Peak resident memory of a block of code (CPU benchmarks)."""
import os
import resource
import threading
import time
from typing import Dict


def resident_bytes() -> int:
    """Current resident memory of this process (Linux ``/proc``)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def fixed_mmap_env() -> Dict[str, str]:
    """This environment with a fixed glibc mmap threshold (64 KiB).

    A child process started with it returns every large tensor's memory at
    once when the tensor is freed, so its resident memory follows the live
    tensors (glibc's adaptive threshold would keep freed blocks).
    """
    return dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 1024))


class PeakResidentMemory:
    """Highest resident memory seen while the block runs (sampled every
    millisecond by a thread), minus the memory when it started.

    Example:
        >>> with PeakResidentMemory() as memory:
        ...     block = bytearray(64 * 2**20)
        >>> memory.growth >= 0
        True
    """

    def __enter__(self) -> 'PeakResidentMemory':
        self.start = self.peak = resident_bytes()
        self._running = True
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while self._running:
            self.peak = max(self.peak, resident_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())

    @property
    def growth(self) -> int:
        """Bytes by which the peak exceeded the start."""
        return self.peak - self.start
