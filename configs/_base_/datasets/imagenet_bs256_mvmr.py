# ImageNet-1k (data/imagenet/train/, class folders; labels unused) as
# MV-MR's pair of views: x_o through the evaluation transform (resize the
# short edge to 256, centre crop 224), x_a the `custom` augmentation at 224
# (random resized crop area 0.08-1, flip, colour jitter 0.8/0.8/0.8/0.2 with
# p 0.8, grayscale p 0.2, Gaussian blur always). Batch 256 per step.
_base_ = ['./stl10_bs256_mvmr.py']
crop_size = 224
original_pipeline = [
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=crop_size),
]
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
    dataset=dict(
        _delete_=True,
        type='ImageNet',
        data_root='data/imagenet',
        split='train',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[original_pipeline, augmented_pipeline]),
            dict(type='PackInputs'),
        ]))
