# Copyright (c) slim_plugins contributors. All rights reserved.
"""Fixtures shared by the test suite: repo paths and tiny generated data."""
import contextlib
import importlib.util
import os
import os.path as osp
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Callable, Iterator, List, Tuple

import pytest
import torch

# The tests run tiny networks, many of them in tool subprocesses next to
# dataloader workers: one intra-op thread per process avoids
# oversubscribing the cores (up to 40x slower with torch's default here).
os.environ.setdefault('OMP_NUM_THREADS', '1')
torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TEST_CONFIGS = osp.join(REPO_ROOT, 'tests', 'data', 'configs')


def load_tool(relative_path: str):
    """Import a script under ``tools/`` as a module (not a package)."""
    path = osp.join(REPO_ROOT, relative_path)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gloo_group(rank: int, world_size: int, port: int) -> Iterator[None]:
    """Join a CPU (gloo) process group of a test's spawned workers.

    On leaving, the ranks meet before the groups are destroyed (unless the
    block raised), and no object may still hold a group then
    (:func:`slim_plugins.utils.distributed.close_process_groups`): run the
    work that builds runners or DDP models in a function that returns plain
    results.
    """
    import torch.distributed as dist

    from slim_plugins.utils.distributed import close_process_groups
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world_size)
    try:
        yield
    except BaseException:
        close_process_groups(wait_for_all_ranks=False)
        raise
    close_process_groups()


def spawn_workers(worker: Callable, args: tuple, nprocs: int = 2,
                  timeout: float = 240) -> None:
    """``torch.multiprocessing.spawn`` with a deadline.

    A worker that hangs (e.g. in a collective whose peer died) fails the
    test after ``timeout`` seconds instead of eating the CI budget; every
    worker is killed before the error is raised.
    """
    import torch.multiprocessing as mp
    context = mp.spawn(worker, args=args, nprocs=nprocs, join=False)
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=max(0.1, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f'{worker.__name__}: {nprocs} workers still running '
                    f'after {timeout:.0f} s')
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join(5)


def run_process_group(args: List[str], timeout: float,
                      **kwargs) -> subprocess.CompletedProcess:
    """Run a command that starts other processes (torchrun, dist_train.sh)
    in a session of its own; on timeout the whole group is killed."""
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f'{" ".join(args)} still running after {timeout:.0f} s; killed '
            f'its process group:\n{stdout[-3000:]}\n{stderr[-3000:]}')
    return subprocess.CompletedProcess(args, process.returncode, stdout,
                                       stderr)


def run_dist_train(config: str, nprocs: int, args: List[str],
                   timeout: float = 300) -> subprocess.CompletedProcess:
    """``bash tools/dist_train.sh CONFIG NPROCS ARGS`` on the CPU (gloo),
    on a free port, with one thread per process."""
    env = dict(
        os.environ,
        PORT=str(free_port()),
        PYTHON=sys.executable,
        OMP_NUM_THREADS='1',
        PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    return run_process_group(
        ['bash',
         osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config,
         str(nprocs), *args],
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env)


def run_tool(args: List[str], cwd: str = REPO_ROOT,
             check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` like a user would, capturing its output."""
    result = subprocess.run([sys.executable, *args],
                            cwd=cwd,
                            capture_output=True,
                            text=True,
                            **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(
            f'{" ".join(args)} exited with {result.returncode}:\n'
            f'{result.stdout[-4000:]}\n{result.stderr[-4000:]}')
    return result


@pytest.fixture(scope='session')
def tiny_cifar10(tmp_path_factory) -> str:
    """A tiny CIFAR-10 in the real pickle format (train 32, test 16)."""
    out = str(tmp_path_factory.mktemp('tiny_cifar10'))
    run_tool([
        'tools/data/make_tiny_cifar.py', '--out', out, '--num-train', '32',
        '--num-test', '16', '--seed', '0'
    ])
    return out


# A universally slimmable SimCLR on tiny CIFAR-10 evaluated by kNN; tests
# append what they need (loops, hooks, training) as config lines.
TINY_SLIM_SIMCLR_KNN = """
_base_ = ['{repo}/configs/_base_/default_runtime.py']
data_root = '{data}'
model = dict(
    type='SimCLR',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor', mean=[125.3, 123.0, 113.9],
        std=[63.0, 62.1, 66.7], to_rgb=False),
    backbone=dict(type='SlimResNet', depth=18, stem='cifar',
                  stem_channels=8, base_channels=8, width_range=(0.25, 1.0)),
    neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=16,
              out_channels=8, num_layers=2, with_avg_pool=True),
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.1))
pipeline = [dict(type='PackInputs')]
memory_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='UncheckedCIFAR10', data_root=data_root,
                 split='train', pipeline=pipeline))
test_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='UncheckedCIFAR10', data_root=data_root,
                 split='test', pipeline=pipeline))
test_evaluator = dict(type='KNNAccuracy', memory_dataloader=memory_dataloader)
custom_hooks = [dict(type='KNNMemoryHook')]
"""


def tiny_slim_simclr_knn(directory, data_root: str,
                         extra: str = '') -> Tuple[str, str, object]:
    """Write the tiny slim SimCLR config and a random checkpoint of it.

    Args:
        directory: Where both files go.
        data_root (str): The tiny CIFAR-10 (``tiny_cifar10`` fixture).
        extra (str): Config lines appended to :data:`TINY_SLIM_SIMCLR_KNN`.

    Returns:
        tuple: Config path, checkpoint path (seed 0, ``meta.epoch=1``) and
        the parsed ``mmengine.Config``.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import slim_plugins  # noqa: F401
    from slim_plugins.registry import MODELS
    config = osp.join(str(directory), 'tiny_slim_simclr_knn.py')
    with open(config, 'w') as file:
        file.write(
            TINY_SLIM_SIMCLR_KNN.format(repo=REPO_ROOT, data=data_root) +
            extra)
    cfg = Config.fromfile(config)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = osp.join(str(directory), 'tiny_slim_simclr_knn.pth')
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()),
               checkpoint)
    return config, checkpoint, cfg


def force_gates(blocks, on) -> None:
    """Make eval-mode channel gates all on or all off, whatever the input.

    With the gate BN's weight 0 its output is its bias (1), so the logits
    are the sum of ``fc2``'s row: positive (every channel on) with weights
    +1, negative (every channel off) with -1.

    Args:
        blocks: Gated blocks (each with a ``gate``).
        on (bool | Sequence[bool]): For all blocks, or one per block.
    """
    blocks = list(blocks)
    states = [on] * len(blocks) if isinstance(on, bool) else list(on)
    for block, state in zip(blocks, states):
        gate = block.gate
        torch.nn.init.constant_(gate.bn.weight, 0.)
        torch.nn.init.constant_(gate.bn.bias, 1.)
        torch.nn.init.constant_(gate.fc2.weight, 1. if state else -1.)


def random_checkpoint(config: str, path: str) -> str:
    """Save the seed-0 initialisation of ``config``'s model at ``path``."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import slim_plugins  # noqa: F401
    from slim_plugins.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return path


def write_tiny_fashion_mnist(root: str, num_train: int = 16,
                             num_test: int = 8) -> None:
    """Tiny random idx files in the format of the real Fashion-MNIST."""
    gen = torch.Generator().manual_seed(0)
    for split, num in (('train', num_train), ('t10k', num_test)):
        labels = torch.arange(num) % 10
        images = torch.randint(
            0, 256, (num, 28, 28), generator=gen, dtype=torch.uint8)
        with open(osp.join(root, f'{split}-images-idx3-ubyte'), 'wb') as f:
            f.write(struct.pack('>IIII', 2051, num, 28, 28))
            f.write(images.numpy().tobytes())
        with open(osp.join(root, f'{split}-labels-idx1-ubyte'), 'wb') as f:
            f.write(struct.pack('>II', 2049, num))
            f.write(labels.to(torch.uint8).numpy().tobytes())


# ---------------------------------------------------------------------------
# Hostile checkpoints (tests/test_utils/test_checkpoint.py and the tools).
class GetAttrReduce:
    """Pickles as ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


class _CallThroughRebuild:
    """Pickles as ``torch._tensor._rebuild_from_type_v2(func, Tensor,
    args, {})``, which calls ``func(*args)`` (in torch's default list)."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return torch._tensor._rebuild_from_type_v2, (self.func, torch.Tensor,
                                                     self.args, {})


class _System:
    """Pickles as ``os.system(command)``."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command, )


def getattr_gadget(marker: str) -> object:
    """eval() reached through ``getattr(getattr, '__self__')``."""
    builtins_module = GetAttrReduce(getattr, '__self__')
    evaluate = GetAttrReduce(builtins_module, 'eval')
    code = f"__import__('os').system('touch {marker}')"
    return _CallThroughRebuild(evaluate, (code, ))


def system_gadget(marker: str) -> object:
    return _System(f'touch {marker}')


GADGETS = {'getattr': getattr_gadget, 'os.system': system_gadget}


def write_hostile(path: str, kind: str, marker: str) -> str:
    """An mmengine-looking checkpoint whose meta carries the payload."""
    payload = GADGETS[kind](marker)
    torch.save(
        dict(
            meta=dict(epoch=1, iter=1, payload=payload),
            state_dict=dict(weight=torch.zeros(1))), path)
    return path
