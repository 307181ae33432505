# ImageNet-100 (an ImageNet-style folder, data/imagenet100/train/<class>/)
# with Unification's two views at 224x224: the CIFAR recipe's crops (20-100
# %), flip, colour jitter (0.4, 0.4, 0.2, 0.1) p 0.8, grayscale 0.2 and
# solarize 0.1 on both views, and no blur at all (as the original).
_base_ = ['./cifar10_bs256_unification.py']
dataset_type = 'CustomDataset'
data_root = 'data/imagenet100'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
crop_size = 224
view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=crop_size,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='Solarize', thr=128, prob=0.1),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_prefix='train',
        with_label=False,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[view_pipeline, view_pipeline]),
            dict(type='PackInputs'),
        ]))
