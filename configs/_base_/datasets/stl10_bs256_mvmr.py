# STL-10 (train + unlabeled, 105k images, as an image folder under
# data/stl10/train/) as MV-MR's pair of views: x_o is the image itself
# (normalisation only), x_a the `custom` augmentation: random resized crop
# (area 0.08-1), flip, colour jitter 0.8/0.8/0.8/0.2 with p 0.8, grayscale
# p 0.2 and a Gaussian blur that is always applied (sigma 0.1-2). ImageNet
# normalisation. Batch 256 in total.
crop_size = 96
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
original_pipeline = []
augmented_pipeline = [
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
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/stl10',
        data_prefix='train',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[original_pipeline, augmented_pipeline]),
            dict(type='PackInputs'),
        ]))
