# ImageNet-100 (an ImageNet-style folder of 100 classes) as EMP-SSL patches
# (the paper's ImageNet-100 recipe): every image gives `num_patches` crops of
# a quarter of its area with the default aspect-ratio range (3/4-4/3, not
# square as for CIFAR), resized to 224x224 bicubic; then the CIFAR recipe's
# flip, colour jitter, grayscale, blur and solarize. Batches of 100 images,
# patch-major. Layout: data/imagenet100/train/<class>/<image>.
dataset_type = 'CustomDataset'
data_root = 'data/imagenet100'
num_patches = 20

patch_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.25, 0.25),
        interpolation='bicubic',
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
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=num_patches, transforms=[patch_pipeline]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=100,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
