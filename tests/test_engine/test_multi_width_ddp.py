# Copyright (c) slim_plugins contributors. All rights reserved.
"""MultiWidthDistributedDataParallel on 2 CPU processes (gloo)."""
import copy
import os

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from conftest import free_port, gloo_group, spawn_workers
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper

WIDTHS = [1.0, 0.5, 0.25]


def _build_model():
    from slim_plugins.models.algorithms import MultiWidthTrainMixin
    from slim_plugins.ops import SlimConv2d, SlimLinear, share_width_state

    class Toy(MultiWidthTrainMixin, BaseModel):

        def __init__(self):
            super().__init__()
            self.backbone = SlimConv2d(
                3, 8, 3, padding=1, slim_in=False, channel_rule='int')
            self.head = SlimLinear(8, 3, channel_rule='int')
            share_width_state(self)
            self.init_multi_width('accumulate', 5, WIDTHS)

        def forward(self, inputs, data_samples=None, mode='loss'):
            feats = F.relu(self.backbone(inputs)).mean(dim=(2, 3))
            return dict(loss=F.cross_entropy(self.head(feats), data_samples))

    torch.manual_seed(0)
    return Toy()


def _full_batch() -> dict:
    gen = torch.Generator().manual_seed(3)
    return dict(
        inputs=torch.randn(4, 3, 16, 16, generator=gen),
        data_samples=torch.randint(0, 3, (4, ), generator=gen))


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _worker(rank: int, world_size: int, port: int) -> None:
    os.environ.pop('CUDA_VISIBLE_DEVICES', None)
    torch.set_num_threads(1)
    with gloo_group(rank, world_size, port):
        _check_ddp_step(rank)


def _check_ddp_step(rank: int) -> None:
    from slim_plugins.engine.wrappers import MultiWidthDistributedDataParallel
    model = _build_model()
    reference = copy.deepcopy(model)
    ddp = MultiWidthDistributedDataParallel(model, device_ids=None)
    full = _full_batch()
    half = {k: v[2 * rank:2 * rank + 2] for k, v in full.items()}
    log_vars = ddp.train_step(half, OptimWrapper(_sgd(model)))
    assert 'loss@w0.25' in log_vars
    # Single process, full batch: the same step without DDP.
    reference.train_step(full, OptimWrapper(_sgd(reference)))
    for (name, got), want in zip(model.named_parameters(),
                                 reference.parameters()):
        torch.testing.assert_close(
            got, want, atol=1e-5, rtol=0, msg=f'rank {rank}: {name}')


def test_ddp_step_equals_full_batch_step():
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip('torch.distributed with gloo is not available')
    port = free_port()
    try:
        spawn_workers(_worker, (2, port), timeout=180)
    except (OSError, PermissionError) as err:  # sandbox without sockets
        pytest.skip(f'cannot spawn a 2-process group: {err}')


def test_ddp_rejects_models_without_multi_width_step():
    from slim_plugins.engine.wrappers import MultiWidthDistributedDataParallel
    wrapper = object.__new__(MultiWidthDistributedDataParallel)
    torch.nn.Module.__init__(wrapper)
    wrapper.module = torch.nn.Linear(2, 2)
    with pytest.raises(TypeError, match='multi_width_train_step'):
        wrapper.train_step({}, None)
