# US3L (SimCLR-Momentum) pre-training of a universally slimmable CIFAR
# ResNet-18 on CIFAR-100, 4 GPUs x 128 images, 400 epochs
# (reference `cifar/us_resnet18_simclr_featdistill_cifar.yaml`, spec 1.10
# row 1): sandwich of 3 widths in [0.25, 1.0] with the 4-stage schedule "A",
# one SGD step per width, GroupReg (5e-5, 0.05, linear, 8 bins) instead of
# weight decay, distillation of the sub-networks to the EMA teacher.
_base_ = [
    '../_base_/models/us3l_simclr_slim-resnet18_cifar.py',
    '../_base_/default_runtime.py',
]

# CIFAR-100 with two SimCLR views (no blur for CIFAR, as the reference).
dataset_type = 'CIFAR100'
data_root = 'data/cifar100'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)
view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.2989, 0.587, 0.114)),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        pipeline=train_pipeline))

# SGD, lr 0.5 with a per-epoch cosine decay. The reference lists weight decay
# 1e-4 but GroupReg replaces it: US3L sets it to 0 at the first step (and logs
# it); with `model.group_reg=None` this plain weight decay is used instead.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=400, by_epoch=True, begin=0,
         end=400)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=400)

custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='US3LScheduleSampler',
            width_range=(0.25, 1.0),
            num_samples=3,
            sandwich=True)),
]
# Every width's forward goes through DDP; the sub-network predictor is unused
# by the teacher branch.
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=20, max_keep_ckpts=3))
randomness = dict(seed=100)
# lr 0.5 is for 4 GPUs x 128 images.
auto_scale_lr = dict(base_batch_size=512)
