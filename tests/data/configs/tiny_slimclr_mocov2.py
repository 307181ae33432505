# SlimCLR-MoCoV2 on tiny generated CIFAR-10 (32 images, 16x16 crops): two
# epochs of two iterations, sub-networks from epoch 1. Tests pass the data
# root with --cfg-options.
_base_ = ['../../../configs/_base_/default_runtime.py']

data_root = 'data/tiny_cifar'
widths = [1.0, 0.75, 0.5, 0.25]
model = dict(
    type='SlimCLRMoCoV2',
    queue_len=48,
    feat_dim=16,
    momentum=0.99,
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        stem_channels=8,
        base_channels=8,
        width_mode='switchable',
        widths=widths,
        channel_rule='int'),
    neck=dict(
        type='SlimMLPNeck',
        in_channels=64,
        hid_channels=32,
        out_channels=16,
        norm='none',
        width_mode='switchable',
        widths=widths,
        channel_rule='int'),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[125.3, 123.0, 113.9],
        std=[63.0, 62.1, 66.7],
        to_rgb=False))

view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=16,
        crop_ratio_range=(0.5, 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UncheckedCIFAR10',
        data_root=data_root,
        test_mode=False,
        pipeline=[
            dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
            dict(type='PackInputs')
        ]))

custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(type='SlowStartSampler', sampler=widths, start_epoch=1))
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='SlowStartCosineLR',
        warmup=0.5,
        slow_start=1,
        post_slow_start_lr=0.05,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=2)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=2, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
