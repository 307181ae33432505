# US3L (SimCLR-Momentum) on tiny generated CIFAR-10 pickles, for tool tests:
# a 16x16 crop, a slimmable ResNet-18 with 8 base channels, 3 widths per
# iteration, GroupReg on (and a non-zero weight decay it must switch off).
# Tests pass the data root with --cfg-options.
_base_ = ['../../../configs/_base_/default_runtime.py']

data_root = 'data/tiny_cifar'
model = dict(
    type='US3L',
    variant='simclr',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        stem_channels=8,
        base_channels=8,
        width_range=(0.25, 1.0),
        track_running_stats=False),
    neck=dict(
        type='SlimMLPNeck',
        in_channels=64,
        hid_channels=32,
        out_channels=16,
        num_layers=3,
        norm='bn',
        slim_in=True,
        slim_hidden=False),
    aux_predictor=dict(
        type='SlimMLPNeck',
        in_channels=16,
        hid_channels=32,
        out_channels=16,
        num_layers=2,
        with_bias=False,
        with_last_bias=True,
        norm='bn',
        slim_in=False,
        slim_hidden=False,
        with_avg_pool=False),
    momentum=0.99,
    feature_distill_layers=['layer3.1.bn2'],
    group_reg=dict(type='GroupRegLoss', lambda_=5e-5, alpha=0.05, bins=8),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[125.3, 123.0, 113.9],
        std=[63.0, 62.1, 66.7],
        to_rgb=False))

view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=16,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UncheckedCIFAR10',
        data_root=data_root,
        test_mode=False,
        pipeline=[
            dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
            dict(type='PackInputs'),
        ]))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='SandwichSampler', width_range=(0.25, 1.0), num_samples=3)),
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, deterministic=True)
