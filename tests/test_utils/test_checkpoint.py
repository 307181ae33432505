# Copyright (c) slim_plugins contributors. All rights reserved.
"""Hostile checkpoints: no code runs, no memory is forged, errors name the
file; importing the package leaves torch's allow-list alone."""
import io
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import GADGETS, GetAttrReduce, write_hostile
from mmengine.logging import HistoryBuffer, MessageHub

from slim_plugins.utils.checkpoint import (CheckpointLoadError,
                                           checkpoint_loading,
                                           load_checkpoint_file,
                                           mmengine_checkpoint_globals)


def forged_object_array(path: str) -> str:
    """A float array whose pickled dtype is renamed to object ('f8' ->
    'O8', flags 0): numpy would read its raw bytes as object pointers."""
    array = np.full(2, 1.5)
    buffer = io.BytesIO()
    torch.save(dict(meta=dict(array=array)), buffer,
               _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    assert data.count(b'f8') == 1
    with open(path, 'wb') as file:
        file.write(data.replace(b'f8', b'O8'))
    return path


@pytest.fixture
def marker(tmp_path):
    path = str(tmp_path / 'pwned')
    yield path
    assert not osp.exists(path), 'the checkpoint ran a shell command'


def test_import_leaves_torch_allow_list_alone():
    # torch, mmengine and mmpretrain register entries of their own on
    # import: the stack comes first, then the package must add none.
    code = ('import torch, mmengine.runner, mmpretrain.models, mmdet.models\n'
            'before = torch.serialization.get_safe_globals()\n'
            'import slim_plugins, slim_plugins.utils.checkpoint\n'
            'after = torch.serialization.get_safe_globals()\n'
            'assert after == before, set(after) ^ set(before)\n'
            'assert getattr not in after\n'
            'assert not any("numpy" in str(g) for g in after), after\n'
            'print("ok")')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True, text=True)
    assert result.returncode == 0 and 'ok' in result.stdout, result.stderr


@pytest.mark.parametrize('kind', sorted(GADGETS))
def test_torch_load_after_import_refuses_gadgets(tmp_path, marker, kind):
    path = write_hostile(str(tmp_path / 'hostile.pth'), kind, marker)
    code = (f'import slim_plugins, torch\ntry:\n'
            f'    torch.load({path!r}, weights_only=True)\n'
            'except Exception as e:\n    print("refused", type(e).__name__)\n')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True, text=True)
    assert 'refused UnpicklingError' in result.stdout, (result.stdout,
                                                        result.stderr)


@pytest.mark.parametrize('kind', sorted(GADGETS))
def test_package_loader_refuses_gadgets(tmp_path, marker, kind):
    path = write_hostile(str(tmp_path / 'hostile.pth'), kind, marker)
    with pytest.raises(CheckpointLoadError) as error:
        load_checkpoint_file(path)
    message = str(error.value)
    assert path in message and 'outside the allowed set' in message


def test_the_getattr_stand_in_reaches_nothing_else(tmp_path, marker):
    # The stand-in still resolves HistoryBuffer's own methods, but not a
    # module's attribute through __self__.
    path = str(tmp_path / 'reach.pth')
    torch.save(dict(meta=GetAttrReduce(getattr, '__self__')), path)
    with pytest.raises(CheckpointLoadError, match='outside the allowed set'):
        load_checkpoint_file(path)


def test_forged_numpy_object_array_is_refused(tmp_path):
    path = forged_object_array(str(tmp_path / 'forged.pth'))
    # The same file with the real numpy classes allowed makes an object
    # array of the raw bytes, i.e. pointers chosen by the file (not touched
    # here: reading it crashes the interpreter).
    unsafe = [np.dtype, np.ndarray, np._core.multiarray._reconstruct,
              type(np.dtype('O'))]
    with torch.serialization.safe_globals(unsafe):
        forged = torch.load(path, weights_only=True)['meta']['array']
    assert forged.dtype == object
    forged.view(np.uint8)[:] = 0  # null pointers: safe to let go
    with pytest.raises(CheckpointLoadError, match='outside the allowed set'):
        load_checkpoint_file(path)


class _ForgedFlags:
    """A float64 dtype whose pickled state claims object-like flags."""

    def __reduce__(self):
        return np.dtype, ('f8', False, True), (3, '<', None, None, None, -1,
                                               -1, 63)


def test_dtype_state_must_be_numpys_own(tmp_path):
    path = str(tmp_path / 'flags.pth')
    torch.save(dict(meta=dict(dtype=_ForgedFlags())), path)
    with pytest.raises(CheckpointLoadError, match='dtype flags 63 differ'):
        load_checkpoint_file(path)
    # numpy itself would take them: a float dtype that "holds objects".
    forged = np.dtype('f8', False, True)
    forged.__setstate__((3, '<', None, None, None, -1, -1, 63))
    assert forged.hasobject


def test_history_buffer_method_table_cannot_be_replaced(tmp_path):
    # __setstate__ updates the class-level table from the file: only
    # HistoryBuffer's own methods may come back from it.
    buffer = HistoryBuffer([1.0], [1])
    state = buffer.__getstate__()
    state['statistics_methods'] = dict(state['statistics_methods'])
    # A callable torch allows by default, not one of HistoryBuffer's.
    state['statistics_methods']['mean'] = torch._utils._rebuild_tensor_v2

    class Forged:
        def __reduce__(self):
            return HistoryBuffer, (), state

    path = str(tmp_path / 'table.pth')
    before = dict(HistoryBuffer._statistics_methods)
    torch.save(dict(message_hub=Forged()), path)
    with pytest.raises(CheckpointLoadError, match='statistics methods'):
        load_checkpoint_file(path)
    assert HistoryBuffer._statistics_methods == before


def test_mmengine_state_round_trips(tmp_path):
    hub = MessageHub.get_instance('test_checkpoint_round_trip')
    for value in (1.0, 2.5, 4.0):
        hub.update_scalar('train/loss', value)
    hub.update_info('scalar', np.float32(0.25))
    hub.update_info('names', np.array(['a', 'bc']))
    hub.update_info('fortran', np.asfortranarray(np.arange(6.).reshape(2, 3)))
    path = str(tmp_path / 'hub.pth')
    torch.save(dict(message_hub=hub.state_dict(), meta=dict(seed=0)), path)
    loaded = load_checkpoint_file(path)['message_hub']
    loss = loaded['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    np.testing.assert_array_equal(loss._log_history, [1.0, 2.5, 4.0])
    assert loss.mean() == pytest.approx(2.5) and loss.max() == 4.0
    info = loaded['runtime_info']
    assert info['scalar'] == np.float32(0.25)
    assert info['scalar'].dtype == np.float32
    np.testing.assert_array_equal(info['names'], ['a', 'bc'])
    np.testing.assert_array_equal(info['fortran'],
                                  np.arange(6.).reshape(2, 3))
    # Outside the package's loads torch's own rules apply.
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with mmengine_checkpoint_globals():
        torch.load(path, weights_only=True)


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    good = str(tmp_path / 'good.pth')
    torch.save(dict(state_dict=dict(weight=torch.arange(1000.))), good)
    with open(good, 'rb') as file:
        data = file.read()
    truncated = str(tmp_path / 'truncated.pth')
    with open(truncated, 'wb') as file:
        file.write(data[:-200])
    noise = str(tmp_path / 'noise.pth')
    with open(noise, 'wb') as file:
        file.write(np.random.default_rng(0).bytes(4096))
    for path in (truncated, noise):
        with pytest.raises(CheckpointLoadError, match='truncated or') as e:
            load_checkpoint_file(path)
        assert path in str(e.value)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_checkpoint_loading_routes_mmengine_and_restores(tmp_path, marker):
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    previous = CheckpointLoader._schemes['']
    path = write_hostile(str(tmp_path / 'hostile.pth'), 'getattr', marker)
    with checkpoint_loading():
        with pytest.raises(CheckpointLoadError, match='hostile.pth'):
            _load_checkpoint(path)
    assert CheckpointLoader._schemes[''] is previous
