# A 4-iteration multi-width classifier (sandwich of 3 random widths per
# iteration, random flips) on tiny CIFAR-10, for the resume-equality test.
# Needs tests/data on PYTHONPATH (ToyMultiWidthClassifier); tests pass the
# data root with --cfg-options.
_base_ = ['./tiny_cifar_classifier.py']

custom_imports = dict(
    imports=['slim_plugins', 'toy_multi_width_classifier'],
    allow_failed_imports=False)
model = dict(
    _delete_=True,
    type='ToyMultiWidthClassifier',
    step_mode='accumulate',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        stem_channels=8,
        base_channels=8,
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='int'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
    data_preprocessor=dict(
        num_classes=10,
        mean=[125.3, 123.0, 113.9],
        std=[63.0, 62.1, 66.7],
        to_rgb=False))

train_pipeline = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='SandwichSampler',
            width_range=(0.25, 1.0),
            num_samples=3,
            seed=3))
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=2))
# window_size=1: every logged value is that iteration's, not a running mean.
log_processor = dict(by_epoch=False, window_size=1)
