# Copyright (c) slim_plugins contributors. All rights reserved.
"""Fixtures shared by the test suite: repo paths and tiny generated data."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from typing import List

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
