# Copyright (c) slim_plugins contributors. All rights reserved.
"""close_process_groups: a group some object still holds is an error that
names the holder (it would be torn down at interpreter exit, where gloo
aborts), and a released group is really gone."""
import gc
import weakref

import pytest
import torch
import torch.distributed as dist
from conftest import free_port
from torch.nn.parallel import DistributedDataParallel

from slim_plugins.utils import close_process_groups


def _init() -> weakref.ref:
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{free_port()}', rank=0,
        world_size=1)
    return weakref.ref(dist.group.WORLD)


def test_released_group_is_destroyed():
    group = _init()
    model = DistributedDataParallel(torch.nn.Linear(2, 2))
    model(torch.randn(3, 2)).sum().backward()
    del model
    close_process_groups()
    assert not dist.is_initialized()
    assert group() is None
    close_process_groups()  # nothing to close: no error


def test_group_held_by_a_ddp_model_is_an_error():
    group = _init()
    model = DistributedDataParallel(torch.nn.Linear(2, 2))
    with pytest.raises(RuntimeError,
                       match=r'DistributedDataParallel\.process_group'):
        close_process_groups(wait_for_all_ranks=False)
    assert not dist.is_initialized() and group() is not None
    del model
    gc.collect()
    assert group() is None
