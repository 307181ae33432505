# Copyright (c) slim_plugins contributors. All rights reserved.
"""WidthSamplingHook inside a real (tiny) mmengine Runner."""
import os.path as osp
import uuid

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from slim_plugins.engine.hooks import WidthSamplingHook
from slim_plugins.engine.samplers import SandwichSampler
from slim_plugins.models.algorithms import MultiWidthTrainMixin
from slim_plugins.ops import SlimConv2d, SlimLinear, share_width_state


class RecordingToy(MultiWidthTrainMixin, BaseModel):
    """Toy multi-width model recording the widths of every step."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = SlimConv2d(
            3, 8, 3, padding=1, slim_in=False, channel_rule='int')
        self.head = SlimLinear(8, 3, channel_rule='int')
        share_width_state(self)
        self.init_multi_width('accumulate')
        self.history = []

    def set_train_widths(self, widths):
        super().set_train_widths(widths)
        self.history.append(list(self.train_widths))

    def forward(self, inputs, data_samples=None, mode='loss'):
        feats = F.relu(self.backbone(inputs)).mean(dim=(2, 3))
        return dict(loss=F.cross_entropy(self.head(feats), data_samples))


class ToyData(Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, idx: int) -> dict:
        gen = torch.Generator().manual_seed(idx)
        return dict(
            inputs=torch.randn(3, 16, 16, generator=gen),
            data_samples=torch.tensor(idx % 3))


def _runner(work_dir: str, max_iters: int, resume_from=None) -> Runner:
    return Runner(
        model=RecordingToy(),
        work_dir=work_dir,
        experiment_name=f'wsh_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        default_hooks=dict(
            # Runner checkpoints load through the package's loader.
            checkpoint_loading=dict(type='CheckpointLoadingHook'),
            checkpoint=dict(
                type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[
            dict(
                type='WidthSamplingHook',
                sampler=dict(
                    type='SandwichSampler',
                    width_range=(0.25, 1.0),
                    num_samples=3,
                    seed=7))
        ],
        resume=resume_from is not None,
        load_from=resume_from,
        default_scope='slim_plugins',
        log_level='WARNING')


def test_hook_sets_logs_checkpoints_and_resumes(tmp_path):
    full = _runner(str(tmp_path / 'full'), max_iters=4)
    full.train()
    history = full.model.history
    assert len(history) == 4
    for widths in history:
        assert widths[0] == 1.0 and widths[-1] == 0.25 and len(widths) == 3
    # Random middle widths: not the same every iteration.
    assert len({tuple(w) for w in history}) > 1
    hub = full.message_hub
    assert hub.get_scalar('train/width_max').current() == 1.0
    assert hub.get_scalar('train/width_min').current() == 0.25
    assert hub.get_scalar('train/num_widths').current() == 3

    half_dir = str(tmp_path / 'half')
    _runner(half_dir, max_iters=2).train()
    ckpt_path = osp.join(half_dir, 'iter_2.pth')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    assert ckpt['width_sampler']['type'] == 'SandwichSampler'

    resumed = _runner(half_dir, max_iters=4, resume_from=ckpt_path)
    resumed.train()
    assert resumed.model.history == history[2:]


def test_hook_rejects_bad_samplers_and_models(tmp_path):
    with pytest.raises(TypeError, match='width sampler'):
        WidthSamplingHook(sampler=object())
    hook = WidthSamplingHook(SandwichSampler(width_range=(0.1, 1.0)))
    runner = _runner(str(tmp_path / 'bad'), max_iters=2)
    # A model without a multi-width step cannot be driven by the hook.
    runner.model.__class__ = BaseModel
    with pytest.raises(TypeError, match='set_train_widths'):
        hook.before_train(runner)


def test_hook_asks_the_model_to_check_whole_width_lists(tmp_path):
    """A model's own rule on width lists fails before the first step."""

    class AllOrFullOnly(RecordingToy):

        def check_train_widths(self, widths):
            if sorted(widths) not in ([1.0], [0.25, 0.5, 0.75, 1.0]):
                raise ValueError(f'widths {sorted(widths)} are neither the '
                                 'full width nor all four widths')

    runner = _runner(str(tmp_path / 'subset'), max_iters=2)
    runner.model.__class__ = AllOrFullOnly
    hook = WidthSamplingHook(
        dict(type='SandwichSampler', width_range=(0.25, 1.0), num_samples=2))
    with pytest.raises(ValueError, match='neither the full width'):
        hook.before_train(runner)
    assert runner.model.history == []
