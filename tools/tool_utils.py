# Copyright (c) slim_plugins contributors. All rights reserved.
"""Shared checks of ``tools/train.py`` and ``tools/test.py``.

They turn the usual mistakes (a missing data root, a misspelt type, a
checkpoint path that does not exist) into one message that names the problem
and the fix, before anything is built or written.
"""
import contextlib
import os.path as osp
import sys
from typing import Any, Iterable, Iterator, List, Tuple

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from slim_plugins.utils import (  # noqa: F401 (the tools use them)
    CheckpointLoadError, checkpoint_loading)

DATA_HINTS = {
    'fashion_mnist': 'python tools/data/prepare_fashion_mnist.py',
    'cifar': 'python tools/data/make_tiny_cifar.py --out DIR '
    '(tiny synthetic) or download CIFAR yourself',
    'coco': 'python tools/data/make_tiny_coco.py --out DIR (tiny synthetic)',
}


def fail(message: str) -> None:
    """Exit with status 1 and one ``error:`` line on stderr."""
    sys.exit(f'error: {message}')


def load_config(path: str) -> Config:
    """Load a config file, failing clearly when it does not exist."""
    if not osp.isfile(path):
        fail(f'config file {path!r} does not exist; configs live under '
             f'configs/ (e.g. configs/simclr/).')
    cfg = Config.fromfile(path)
    return cfg


def _walk(node: Any, prefix: str = '') -> Iterator[Tuple[str, Any]]:
    """Yield ``(dotted.key, value)`` for every leaf-or-dict of a config."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            yield path, value
            yield from _walk(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _walk(value, f'{prefix}[{i}]')


def _is_local(path: Any) -> bool:
    return isinstance(path, str) and bool(path) and '://' not in path


def _data_hint(data_root: str) -> str:
    for key, hint in DATA_HINTS.items():
        if key in data_root.replace('-', '_').lower():
            return f' Prepare it with `{hint}`'
    return ''


def check_config_paths(cfg: Config, resume: bool = False) -> None:
    """Check that data roots and checkpoints named by ``cfg`` exist.

    Args:
        cfg (Config): The merged config.
        resume (bool): Whether training resumes; then ``load_from`` may be
            None (auto-resume from the work dir).
    """
    problems: List[str] = []
    missing_roots = set()
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field, None)
        if not loader:
            continue
        for key, value in _walk(loader, field):
            if key.endswith('.data_root') and _is_local(value) \
                    and not osp.isdir(value) and value not in missing_roots:
                missing_roots.add(value)
                hint = _data_hint(value)
                problems.append(
                    f'data root {value!r} ({key}) does not exist.'
                    f'{hint}{" or o" if hint else " O"}verride it with '
                    f'--cfg-options {key}=PATH.')
    load_from = cfg.get('load_from', None)
    if _is_local(load_from) and not osp.isfile(load_from):
        option = '--resume' if resume else 'load_from'
        problems.append(f'checkpoint {load_from!r} given as {option} does '
                        f'not exist.')
    for key, value in _walk(cfg.get('model', {}), 'model'):
        if key.endswith('init_cfg') and isinstance(value, dict) \
                and value.get('type') == 'Pretrained':
            checkpoint = value.get('checkpoint')
            missing = not checkpoint or (_is_local(checkpoint)
                                         and not osp.isfile(checkpoint))
            if missing:
                problems.append(
                    f'pretrained checkpoint {checkpoint!r} ({key}) does not '
                    f'exist; pass it with --cfg-options '
                    f'{key}.checkpoint=PATH.')
    if problems:
        fail(' '.join(problems))


@contextlib.contextmanager
def report_build_errors(config_path: str) -> Iterator[None]:
    """Turn a registry miss into one message naming the type and the fix."""
    try:
        yield
    except KeyError as e:
        message = str(e.args[0]) if e.args else str(e)
        if 'registry' not in message:
            raise
        fail(f'{config_path}: {message}. Check the spelling of the type, its '
             f'scope prefix (e.g. "slim_plugins.SlimResNet"), and that the '
             f'package defining it is listed in custom_imports.')


def build_runner(cfg: Config) -> Runner:
    """Build the runner named by ``runner_type`` (default mmengine Runner)."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def check_train_batches(runner: Runner) -> None:
    """Fail before training if the train dataloader yields no batch.

    With ``drop_last`` a data subset smaller than one batch per process
    gives an empty epoch, which mmengine reports only as "`epoch_length`
    must be a positive integer, but got 0" from a parameter scheduler.
    """
    import torch.distributed as torch_dist
    loader = runner.train_loop.dataloader  # builds the loop (reused later)
    if len(loader) > 0:
        return
    world = torch_dist.get_world_size() if torch_dist.is_available() and \
        torch_dist.is_initialized() else 1
    samples = len(loader.dataset)
    per_process = -(-samples // world)
    fail(f'the train dataloader yields no batch: {samples} samples over '
         f'{world} process(es) is {per_process} per process, fewer than '
         f'train_dataloader.batch_size={loader.batch_size}'
         f'{" with drop_last=True" if loader.drop_last else ""}. Use more '
         'data, fewer processes or a smaller batch.')


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` run on machines without a GPU.

    mmengine's launcher calls ``torch.cuda.set_device`` and wraps the model
    with ``device_ids=[LOCAL_RANK]``; both fail without CUDA. On such machines
    we start the process group with the gloo backend ourselves (the Runner
    then skips its own initialisation) and wrap the model with
    ``device_ids=None``, which is what DDP expects for CPU modules.
    """
    import torch
    import torch.distributed as torch_dist
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    wrapper_cfg = cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel')
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg


def close_distributed(wait_for_all_ranks: bool = True) -> None:
    """Destroy the process groups, if any, before the process exits.

    See :func:`slim_plugins.utils.distributed.close_process_groups`: the
    ranks meet first (unless leaving on an error), and a group that some
    object still holds is an error that names the holder.

    Args:
        wait_for_all_ranks (bool): Meet the other ranks (a barrier) before
            destroying the groups. Defaults to True.
    """
    from slim_plugins.utils.distributed import close_process_groups
    close_process_groups(wait_for_all_ranks)


@contextlib.contextmanager
def closing_distributed() -> Iterator[None]:
    """Run a tool's work, then :func:`close_distributed`.

    The work must release what holds the process group (the runner and its
    DDP-wrapped model) inside the block, e.g. by running in a function that
    returns only plain results; the ranks meet before the teardown when the
    work finished, and do not when it raised.
    """
    try:
        yield
    except BaseException:
        close_distributed(wait_for_all_ranks=False)
        raise
    close_distributed()


def first_batches(loader: Iterable,
                  num_batches: int,
                  desc: str,
                  leave: bool = True) -> Iterator[Any]:
    """The first ``num_batches`` batches of epoch 0, with a tqdm bar.

    Args:
        loader (Iterable): A data loader; its sampler is set to epoch 0
            when it has ``set_epoch``, so every call reads the same batches.
        num_batches (int): Batches to yield at most.
        desc (str): Label of the progress bar.
        leave (bool): Keep the finished bar on screen. Defaults to True.

    Yields:
        The batches, in loader order.
    """
    from tqdm import tqdm
    sampler = getattr(loader, 'sampler', None)
    if hasattr(sampler, 'set_epoch'):
        sampler.set_epoch(0)
    total = num_batches
    if hasattr(loader, '__len__'):
        total = min(num_batches, len(loader))
    bar = tqdm(total=total, desc=desc, unit='batch', leave=leave,
               file=sys.stdout)
    try:
        for index, batch in enumerate(loader):
            if index == num_batches:
                break
            yield batch
            bar.update(1)
    finally:
        bar.close()
