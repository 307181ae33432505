# CIFAR-10 as EMP-SSL patches (the paper's CIFAR recipe): every image gives
# `num_patches` crops of a quarter of its area, square, resized to 32x32;
# flip 0.5, colour jitter (0.4, 0.4, 0.4, 0.2) with p 0.8, grayscale 0.2,
# Gaussian blur with p 0.1 and sigma in U(0.1, 2), solarize with p 0.1 at
# threshold 128 (a re-implementation uses 192); normalised to [-1, 1] by
# the model's data preprocessor. Batches of 100 images, patch-major.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
num_patches = 20

patch_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.25, 0.25),
        aspect_ratio_range=(1., 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
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
        prob=0.1),
    dict(type='Solarize', thr=128, prob=0.1),
]
# kachayev's re-implementation solarizes at 192, the official code at PIL's
# default 128 (empssl_resnet18_1xb100-20p-coslr-1e_cifar10-solarize192.py).
patch_pipeline_solarize192 = patch_pipeline[:-1] + [
    dict(type='Solarize', thr=192, prob=0.1)
]
train_pipeline = [
    dict(type='MultiView', num_views=num_patches, transforms=[patch_pipeline]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=100,
    num_workers=4,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
