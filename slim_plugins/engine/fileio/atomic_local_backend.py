# Copyright (c) slim_plugins contributors. All rights reserved.
"""A local file backend whose writes are all-or-nothing.

mmengine's ``LocalBackend.put`` opens the target with ``'wb'`` and writes
into it: a run killed (or a disk filling up) while a checkpoint is written
leaves a truncated ``iter_N.pth``, and writing over an existing file
truncates the good copy first. ``CheckpointHook(backend_args=dict(
backend='atomic_local'))`` makes every checkpoint appear whole or not at all.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import mmengine
from mmengine.fileio import LocalBackend, register_backend


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` that writes to a temporary file in the target's
    directory, flushes it to disk and renames it over the target.

    The rename is atomic on POSIX file systems, so readers (and a resumed
    run) see either the previous file or the complete new one.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write ``obj`` to ``filepath`` atomically.

        Args:
            obj (bytes): Data to write.
            filepath (str or Path): Target path; its directory is created.
        """
        directory = osp.dirname(osp.abspath(filepath))
        mmengine.mkdir_or_exist(directory)
        handle, temporary = tempfile.mkstemp(
            dir=directory, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
        try:
            with os.fdopen(handle, 'wb') as file:
                file.write(obj)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, filepath)
        except BaseException:
            if osp.exists(temporary):
                os.remove(temporary)
            raise

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically (see :meth:`put`)."""
        self.put(obj.encode(encoding), filepath)
