# MV-MR's linear evaluation on STL-10 (its `--retrain` protocol) with
# mmpretrain's ImageClassifier: the pre-trained encoder frozen in eval mode
# (BN statistics fixed), a new Linear(2048, 10) on h (no BN before it), Adam
# lr 1e-3 with a cosine over 100 epochs, training images (5000 labelled, as
# class folders under data/stl10/labeled/train) through the `custom`
# augmentation. The last epoch is reported. The original's flip test-time
# augmentation: `tools/test.py CONFIG CKPT --tta` (its own column). Pass the
# pre-trained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../../_base_/default_runtime.py']
crop_size = 96
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SmallKernelResNet',
        depth=50,
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, 5)))
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=crop_size,
        crop_ratio_range=(0.08, 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.8,
                contrast=0.8,
                saturation=0.8,
                hue=0.2)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=1.0),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/stl10/labeled',
        data_prefix='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/stl10/labeled',
        data_prefix='test',
        pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0,
         end=100, convert_to_iter_based=True)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=1))
