# CIFAR-20 (CIFAR-100 images, 20 super-classes; pre-training ignores the
# labels) as MV-MR's pair of views: x_o is the image itself, x_a the
# `cifar20` augmentation: colour jitter 0.4/0.4/0.4/0.1 with p 0.8,
# grayscale p 0.1, random resized crop (area 0.2-1, bicubic) and flip. CIFAR
# normalisation (0.491, 0.482, 0.447) / (0.247, 0.243, 0.261). Batch 512.
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.3, 122.9, 114.0],
    std=[63.0, 62.0, 66.6],
    to_rgb=True)
original_pipeline = []
augmented_pipeline = [
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
        prob=0.1,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.2, 1.),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    batch_size=512,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CIFAR20',
        data_root='data/cifar100',
        split='train',
        pipeline=[
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[original_pipeline, augmented_pipeline]),
            dict(type='PackInputs'),
        ]))
