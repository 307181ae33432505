# Copyright (c) slim_plugins contributors. All rights reserved.
"""Loading mmengine checkpoints safely under torch>=2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default, and mmengine
0.10.7 checkpoints hold, next to the tensors, the message hub's
``HistoryBuffer`` objects with numpy arrays and scalars inside. The restricted
unpickler refuses them, so ``--resume`` and ``load_from`` fail.

Allow-listing the classes those objects pickle through is not safe:

* ``HistoryBuffer`` pickles its statistics methods as
  ``builtins.getattr(HistoryBuffer, 'min')``. Allowing ``getattr`` lets a
  pickle reach any attribute of any object it holds (e.g. the builtins module
  through ``getattr.__self__``), and torch's default allow-list already has
  ``torch._tensor._rebuild_from_type_v2(func, cls, args, state)``, which calls
  ``func(*args)``: ``eval`` of any string.
* ``numpy.dtype`` and ``numpy.ndarray`` with their ``__setstate__`` let a
  pickle clear the object flag of an object dtype and fill an object array
  from raw bytes, i.e. make numpy dereference pointers the file chose (a
  segmentation fault at best).

So nothing here goes on torch's process-wide list, and the names such a
pickle refers to are bound, only for the duration of a load this package
makes or drives, to narrow stand-ins (torch's ``(callable, name)`` form of
``safe_globals``):

* ``builtins.getattr`` -> :func:`history_buffer_method`, which returns one of
  ``HistoryBuffer``'s own statistics methods and refuses everything else;
* ``numpy.dtype`` -> :class:`PlainDType`, which accepts plain numeric, bool
  and string dtypes only and checks their pickled state against the
  dtype numpy itself would build;
* numpy's ``_reconstruct``/``ndarray`` -> :class:`PlainArray`, which copies
  the raw bytes of such a dtype into a new array after checking their size;
* numpy's ``scalar`` -> :func:`plain_scalar`, the same for one value.

After the load, :func:`materialise` swaps every :class:`PlainArray` for its
array, and ``HistoryBuffer``'s class-level method table (which its
``__setstate__`` updates from the file) is checked to hold nothing but its
own methods.
"""
import contextlib
import os
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch

# numpy 2 pickles its internals under ``numpy._core``, numpy 1 under
# ``numpy.core``: checkpoints from either must load.
_NUMPY_CORE = ('numpy._core.multiarray', 'numpy.core.multiarray')
# Kinds whose values are plain bytes: bool, signed, unsigned, float,
# complex, bytes and unicode strings (no objects, no structures, no
# pointers).
_PLAIN_KINDS = 'biufcSU'


# Unpickler errors that mean broken bytes, not a refused object.
_CORRUPT_SIGNS = ('Unsupported operand', 'invalid load key', 'truncated',
                  'pickle data was truncated', 'EOF')


class CheckpointLoadError(ValueError):
    """A checkpoint file could not be loaded; the message names the file."""


def _refuse(message: str) -> None:
    raise pickle.UnpicklingError(message)


def history_buffer_method(owner: Any, name: Any) -> Callable:
    """Stand-in for ``builtins.getattr`` while loading a checkpoint.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods as
    ``getattr(HistoryBuffer, name)``; this returns exactly those methods.

    Args:
        owner: Must be mmengine's ``HistoryBuffer`` class.
        name: One of the names in ``HistoryBuffer._statistics_methods``
            that is a function defined on ``HistoryBuffer`` itself.

    Returns:
        Callable: ``HistoryBuffer.<name>``.

    Raises:
        pickle.UnpicklingError: For any other owner or name.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and isinstance(name, str) and _is_own_method(
            name, HistoryBuffer.__dict__.get(name)):
        return HistoryBuffer.__dict__[name]
    _refuse(f'getattr({owner!r}, {name!r}) is outside the allowed set '
            '(only HistoryBuffer statistics methods)')


def _is_own_method(name: str, value: Any) -> bool:
    from mmengine.logging import HistoryBuffer
    return (callable(value) and not name.startswith('_')
            and getattr(value, '__qualname__', '') == f'HistoryBuffer.{name}'
            and HistoryBuffer.__dict__.get(name) is value)


class PlainDType:
    """Stand-in for ``numpy.dtype`` while loading a checkpoint.

    Built like ``numpy.dtype(spec, align, copy)`` and given the pickled state
    by ``__setstate__``; it keeps a dtype numpy builds from the checked
    values, never one whose state came from the file.

    Args:
        spec (str): The dtype string, e.g. ``'f8'``; only bool, integer,
            float, complex and string kinds are accepted.
        align (bool): numpy's ``align`` argument (ignored for plain kinds).
        copy (bool): numpy's ``copy`` argument (ignored).
    """

    def __init__(self, spec: Any, align: Any = False, copy: Any = True):
        if not isinstance(spec, str):
            _refuse(f'numpy.dtype({spec!r}) is outside the allowed set '
                    '(a dtype string is expected)')
        try:
            dtype = np.dtype(spec)
        except TypeError as error:
            _refuse(f'numpy.dtype({spec!r}): {error}')
        if dtype.kind not in _PLAIN_KINDS or dtype.fields is not None \
                or dtype.subdtype is not None:
            _refuse(f'numpy dtype {spec!r} (kind {dtype.kind!r}) is outside '
                    'the allowed set (bool, int, float, complex, string)')
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        """Apply the byte order and size of numpy's pickled dtype state."""
        if not (isinstance(state, tuple) and len(state) == 8
                and state[0] == 3 and state[1] in ('<', '>', '|', '=')
                and state[2:5] == (None, None, None)):
            _refuse(f'numpy dtype state {state!r} is outside the allowed set')
        byteorder, elsize, flags = state[1], state[5], state[7]
        dtype = self.dtype
        if dtype.kind in 'SU' and elsize != -1:
            unit = 4 if dtype.kind == 'U' else 1
            if not isinstance(elsize, int) or elsize < 0 or elsize % unit:
                _refuse(f'numpy string dtype size {elsize!r} is invalid')
            dtype = np.dtype((dtype.type, elsize // unit))
        if byteorder in '<>':
            dtype = dtype.newbyteorder(byteorder)
        if flags != dtype.flags:
            _refuse(f'numpy dtype flags {flags!r} differ from those of '
                    f'{dtype} ({dtype.flags}): refused')
        self.dtype = dtype


class NDArrayType:
    """Stand-in for the ``numpy.ndarray`` class a pickle names."""


class PlainArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct`` while loading.

    ``__setstate__`` gets numpy's pickled array state, checks it and copies
    the raw bytes into a new array (:attr:`array`); :func:`materialise`
    replaces this object by that array once the load is done.

    Args:
        subtype: Must be :class:`NDArrayType` (plain ``numpy.ndarray``).
        shape: numpy's placeholder shape (ignored).
        typecode: numpy's placeholder type code (ignored).
    """

    def __init__(self, subtype: Any, shape: Any = (0, ), typecode: Any = b'b'):
        if subtype is not NDArrayType:
            _refuse(f'numpy array of type {subtype!r} is outside the '
                    'allowed set (plain numpy.ndarray)')
        self.array: Optional[np.ndarray] = None

    def __setstate__(self, state: Any) -> None:
        """Build the array from ``(version, shape, dtype, fortran, data)``."""
        if not (isinstance(state, tuple) and len(state) == 5
                and state[0] == 1):
            _refuse(f'numpy array state of length {len(state)} is outside '
                    'the allowed set')
        _, shape, dtype, fortran, data = state
        if not isinstance(dtype, PlainDType):
            _refuse(f'numpy array dtype {dtype!r} is outside the allowed set')
        if not (isinstance(shape, tuple) and all(
                isinstance(n, int) and n >= 0 for n in shape)):
            _refuse(f'numpy array shape {shape!r} is invalid')
        if not isinstance(data, (bytes, bytearray)):
            _refuse('numpy array data must be raw bytes')
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.dtype.itemsize
        if len(data) != expected:
            _refuse(f'numpy array of shape {shape} and dtype {dtype.dtype} '
                    f'needs {expected} bytes, the file holds {len(data)}')
        flat = np.frombuffer(bytes(data), dtype=dtype.dtype)
        self.array = flat.reshape(shape, order='F' if fortran else 'C').copy()


def plain_scalar(dtype: Any, data: Any = None) -> np.generic:
    """Stand-in for numpy's ``multiarray.scalar(dtype, data)``.

    Args:
        dtype (PlainDType): The checked dtype.
        data (bytes): Exactly ``dtype.itemsize`` raw bytes.

    Returns:
        np.generic: The numpy scalar.
    """
    if not isinstance(dtype, PlainDType):
        _refuse(f'numpy scalar of dtype {dtype!r} is outside the allowed set')
    if not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        _refuse(f'numpy scalar of dtype {dtype.dtype} needs '
                f'{dtype.dtype.itemsize} raw bytes')
    return np.frombuffer(data, dtype=dtype.dtype)[0].copy()


def checkpoint_safe_globals() -> List[Tuple[object, str]]:
    """The globals an mmengine checkpoint needs, as narrow stand-ins.

    Returns:
        list[tuple]: ``(object, 'module.name')`` pairs for
        ``torch.serialization.safe_globals``. The only real class among them
        is mmengine's ``HistoryBuffer`` (plain data; its class-level method
        table is checked after each load by
        :func:`mmengine_checkpoint_globals`).
    """
    from mmengine.logging import HistoryBuffer
    entries = [(HistoryBuffer,
                'mmengine.logging.history_buffer.HistoryBuffer'),
               (history_buffer_method, 'builtins.getattr'),
               (PlainDType, 'numpy.dtype'), (NDArrayType, 'numpy.ndarray')]
    for module in _NUMPY_CORE:
        entries += [(PlainArray, f'{module}._reconstruct'),
                    (plain_scalar, f'{module}.scalar')]
    return entries


@contextlib.contextmanager
def mmengine_checkpoint_globals() -> Iterator[None]:
    """Allow the narrow stand-ins of mmengine checkpoints inside the block.

    Also guards ``HistoryBuffer._statistics_methods``, a class-level table
    that ``HistoryBuffer.__setstate__`` updates from the file: anything but
    ``HistoryBuffer``'s own methods is put back as it was and refused.

    Raises:
        pickle.UnpicklingError: If a load in the block changed the table.
    """
    from mmengine.logging import HistoryBuffer
    table = HistoryBuffer._statistics_methods
    before = dict(table)
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        try:
            yield
        finally:
            changed = {
                name: value
                for name, value in table.items()
                if before.get(name) is not value
                and not _is_own_method(name, value)
            }
            if changed:
                table.clear()
                table.update(before)
    if changed:
        _refuse(f'HistoryBuffer statistics methods {sorted(changed)} are '
                'outside the allowed set')


def materialise(obj: Any, _seen: Optional[Dict[int, Any]] = None) -> Any:
    """Replace every :class:`PlainArray` in a loaded object by its array.

    Walks dicts, lists, tuples, sets and the ``__dict__`` of
    ``HistoryBuffer`` objects; tensors are left as they are.

    Args:
        obj: What ``torch.load`` returned under
            :func:`mmengine_checkpoint_globals`.

    Returns:
        The same object with arrays in place (tuples are rebuilt).
    """
    from mmengine.logging import HistoryBuffer
    seen = {} if _seen is None else _seen
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, PlainArray):
        if obj.array is None:
            _refuse('a numpy array of the file has no state')
        seen[id(obj)] = obj.array
        return obj.array
    if isinstance(obj, (dict, OrderedDict)):
        seen[id(obj)] = obj
        for key in list(obj):
            obj[key] = materialise(obj[key], seen)
    elif isinstance(obj, list):
        seen[id(obj)] = obj
        obj[:] = [materialise(item, seen) for item in obj]
    elif isinstance(obj, tuple):
        items = [materialise(item, seen) for item in obj]
        if any(a is not b for a, b in zip(items, obj)):
            obj = type(obj)(items) if type(obj) is tuple else type(obj)(
                *items)
        seen[id(obj)] = obj
    elif isinstance(obj, (set, frozenset)):
        seen[id(obj)] = obj
    elif isinstance(obj, HistoryBuffer):
        seen[id(obj)] = obj
        for key, value in list(vars(obj).items()):
            setattr(obj, key, materialise(value, seen))
    return obj


def _unpickling_reason(error: Exception) -> str:
    """The specific line of torch's long ``weights_only`` message."""
    text = str(error)
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
        text = text.split('Check the documentation of torch.load', 1)[0]
    return ' '.join(text.split())[:400]


def load_checkpoint_file(filename: str,
                         map_location: Any = 'cpu') -> Any:
    """Load a local checkpoint with the restricted unpickler.

    The loader of this package and of the runs its tools drive
    (``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``, the
    converters and ``tools/calibrate_bn.py``).

    Args:
        filename (str): Path of the checkpoint.
        map_location: Passed to ``torch.load``. Defaults to ``'cpu'``.

    Returns:
        The loaded checkpoint (numpy arrays in place).

    Raises:
        FileNotFoundError: If the file does not exist.
        CheckpointLoadError: If it holds objects outside the allowed set,
            or is truncated or otherwise not a readable checkpoint. The
            message names the file.
    """
    filename = os.fspath(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    try:
        with mmengine_checkpoint_globals():
            loaded = torch.load(
                filename, map_location=map_location, weights_only=True)
            return materialise(loaded)
    except pickle.UnpicklingError as error:
        reason = _unpickling_reason(error)
        if any(sign in reason for sign in _CORRUPT_SIGNS):
            raise CheckpointLoadError(
                f'checkpoint {filename} ({osp.getsize(filename)} bytes) is '
                'not a readable checkpoint, it may be truncated or corrupted '
                f'({reason})') from None
        raise CheckpointLoadError(
            f'refused to load checkpoint {filename}: it holds objects '
            'outside the allowed set of tensors, plain data and mmengine '
            f'log buffers ({reason}). Load it only if you '
            'trust its source, with torch.load(..., weights_only=False).'
        ) from None
    except Exception as error:  # garbage bytes fail anywhere in unpickling
        raise CheckpointLoadError(
            f'checkpoint {filename} ({osp.getsize(filename)} bytes) is not '
            f'a readable checkpoint, it may be truncated or corrupted '
            f'({type(error).__name__}: {str(error)[:300]})') from None


@contextlib.contextmanager
def checkpoint_loading() -> Iterator[None]:
    """Route mmengine's local checkpoint loads through
    :func:`load_checkpoint_file` inside the block.

    mmengine's runner (``resume``, ``load_from``) and ``PretrainedInit``
    read local files through ``CheckpointLoader``; the tools run their work
    in this block so those loads are restricted and their errors name the
    file. The previous loader is put back on leaving.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    previous = CheckpointLoader._schemes.get('')
    CheckpointLoader.register_scheme('', load_checkpoint_file, force=True)
    try:
        yield
    finally:
        if previous is None:
            CheckpointLoader._schemes.pop('', None)
        else:
            CheckpointLoader.register_scheme('', previous, force=True)
