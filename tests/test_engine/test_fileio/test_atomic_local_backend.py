# Copyright (c) slim_plugins contributors. All rights reserved.
"""AtomicLocalBackend: a failed write leaves the previous file whole."""
import os

import pytest
from mmengine.fileio import LocalBackend, get_file_backend

import slim_plugins  # noqa: F401  (registers 'atomic_local')
from slim_plugins.engine.fileio import AtomicLocalBackend


def test_put_writes_whole_files(tmp_path):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)
    target = tmp_path / 'sub' / 'iter_8.pth'
    backend.put(b'checkpoint bytes', str(target))
    assert target.read_bytes() == b'checkpoint bytes'
    backend.put_text('iter_8.pth', str(tmp_path / 'last'))
    assert (tmp_path / 'last').read_text() == 'iter_8.pth'
    assert sorted(os.listdir(tmp_path / 'sub')) == ['iter_8.pth']


@pytest.mark.parametrize('bad', ['text, not bytes', None])
def test_failed_write_keeps_the_previous_file(tmp_path, bad):
    target = tmp_path / 'iter_4.pth'
    # mmengine's own backend truncates the good file before failing.
    target.write_bytes(b'good checkpoint')
    with pytest.raises(TypeError):
        LocalBackend().put(bad, str(target))
    assert target.read_bytes() == b''

    target.write_bytes(b'good checkpoint')
    with pytest.raises(TypeError):
        AtomicLocalBackend().put(bad, str(target))
    assert target.read_bytes() == b'good checkpoint'
    assert os.listdir(tmp_path) == ['iter_4.pth']  # no temporary left
