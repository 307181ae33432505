# MV-MR, the paper's CIFAR-20 recipe (73.2 % linear top-1 with flip TTA):
# ResNet-50 with the small-kernel stem, the representations at 32x32 (HOG
# 8x8 cells: 4x4 of them), batch 512, Adam 2e-4, 10 warm-up epochs, cosine
# to 1000, AMP.
_base_ = [
    '../_base_/models/mvmr_resnet50.py',
    '../_base_/datasets/cifar20_bs512_mvmr.py',
    '../_base_/schedules/mvmr_adam-warmup-coslr-1000e.py',
    '../_base_/default_runtime.py',
]
image_size = 32
norm_mean, norm_std = [125.3, 122.9, 114.0], [63.0, 62.0, 66.6]
model = dict(
    backbone=dict(type='SmallKernelResNet'),
    image_size=image_size,
    representations=[
        dict(type='PixelRepresentation', scale=1 / 32),
        dict(
            type='ScatteringRepresentation',
            image_size=image_size,
            J=2,
            L=8,
            scale=1 / 32),
        dict(
            type='AugmentedPixelRepresentation',
            mean=norm_mean,
            std=norm_std,
            scale=1 / 32),
        dict(type='HOGRepresentation', bins=24, pool_size=8),
        dict(type='LocalStdRepresentation', kernel_size=3),
    ])
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 2e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=990,
        eta_min=1e-6,
        by_epoch=True,
        begin=10,
        end=1000,
        convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
