# Copyright (c) slim_plugins contributors. All rights reserved.
"""Tests of the helpers shared by the scripts in ``tools/``."""
import torch
import torch.distributed as torch_dist
from conftest import load_tool
from mmengine.dataset import DefaultSampler
from torch.utils.data import DataLoader


def _loader(seed: int) -> DataLoader:
    dataset = list(range(12))
    sampler = DefaultSampler(dataset, shuffle=True, seed=seed)
    return DataLoader(dataset, batch_size=3, sampler=sampler)


def test_first_batches_reads_epoch_zero_every_time(capsys):
    tool_utils = load_tool('tools/tool_utils.py')
    loader = _loader(seed=7)
    first = [b.tolist() for b in tool_utils.first_batches(loader, 2, 'x')]
    assert len(first) == 2
    # A later epoch shuffles differently; first_batches goes back to 0.
    loader.sampler.set_epoch(5)
    epoch5 = [b.tolist() for b in loader][:2]
    assert epoch5 != first
    again = [b.tolist() for b in tool_utils.first_batches(loader, 2, 'x')]
    assert again == first
    # Asking for more batches than there are yields the whole epoch.
    everything = list(tool_utils.first_batches(loader, 100, 'all'))
    assert sorted(torch.cat(everything).tolist()) == list(range(12))
    assert 'all: 100%' in capsys.readouterr().out


def test_close_distributed_destroys_the_process_group(tmp_path):
    tool_utils = load_tool('tools/tool_utils.py')
    tool_utils.close_distributed()  # nothing to close: no error
    torch_dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "rendezvous"}', rank=0,
        world_size=1)
    assert torch_dist.is_initialized()
    tool_utils.close_distributed()  # after a barrier of the one rank
    assert not torch_dist.is_initialized()
    # leaving on an error: no barrier, which other ranks might never reach
    torch_dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "again"}', rank=0,
        world_size=1)
    tool_utils.close_distributed(wait_for_all_ranks=False)
    assert not torch_dist.is_initialized()


def test_closing_distributed_tears_down_after_success_and_error(tmp_path):
    tool_utils = load_tool('tools/tool_utils.py')
    for outcome, init_file in (('finished', 'ok'), ('raised', 'error')):
        torch_dist.init_process_group(
            'gloo', init_method=f'file://{tmp_path / init_file}', rank=0,
            world_size=1)
        try:
            with tool_utils.closing_distributed():
                if outcome == 'raised':
                    raise ValueError('work failed')
        except ValueError:
            assert outcome == 'raised'
        assert not torch_dist.is_initialized(), outcome
