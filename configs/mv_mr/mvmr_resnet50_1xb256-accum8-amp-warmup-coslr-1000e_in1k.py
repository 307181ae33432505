# MV-MR, the paper's ImageNet-1k recipe (74.5 % linear top-1 with flip
# TTA): ResNet-50 with the standard stem, the representations at 224x224,
# batch 256 with gradients accumulated over 8 batches per Adam step, Adam
# 1e-4, 10 warm-up epochs, cosine to 1000, AMP. The schedule counts
# iterations of this rank, so it ends with training whatever the number of
# GPUs and the accumulation.
_base_ = [
    '../_base_/models/mvmr_resnet50.py',
    '../_base_/datasets/imagenet_bs256_mvmr.py',
    '../_base_/schedules/mvmr_adam-warmup-coslr-1000e.py',
    '../_base_/default_runtime.py',
]
image_size = 224
model = dict(
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
            mean={{_base_.norm_mean}},
            std={{_base_.norm_std}},
            scale=1 / 32),
        dict(type='HOGRepresentation', bins=24, pool_size=8),
        dict(type='LocalStdRepresentation', kernel_size=3),
    ])
optim_wrapper = dict(accumulative_counts=8)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
