# US3L (BYOL) pre-training of a universally slimmable ResNet-50 on ImageNet,
# 8 GPUs x 60 images, 100 epochs, mixed precision
# (reference `imagenet/us_resnet50_byol_featdistill_imagenet.yaml`, the
# README command; spec 1.10 row 4): sandwich of 3 widths in [0.25, 1.0]
# with the 4-stage schedule "A", one SGD step per width, GroupReg with a
# 50-epoch plain-L2 warm-up, separate predictor for the sub-networks.
_base_ = [
    '../_base_/datasets/imagenet_bs256_mocov2.py',
    '../_base_/models/us3l_byol_slim-resnet50.py',
    '../_base_/default_runtime.py',
]

# Two views with the same augmentation: MoCo v2's, which is US3L's for
# ImageNet (blur, no solarisation); 60 images per GPU.
train_dataloader = dict(batch_size=60)

# SGD lr 0.05, per-epoch cosine, AMP. GroupReg replaces weight decay: US3L
# sets the optimizer's weight decay to 0 at the first step (and logs it).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0,
         end=100)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=100)

custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='US3LScheduleSampler',
            width_range=(0.25, 1.0),
            num_samples=3,
            sandwich=True)),
]
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)

default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=10, max_keep_ckpts=3))
randomness = dict(seed=100)
# lr 0.05 is for 8 GPUs x 60 images.
auto_scale_lr = dict(base_batch_size=480)
