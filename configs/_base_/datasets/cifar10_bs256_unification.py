# CIFAR-10 with Unification's two views (solo-learn's recipe): random
# resized crops of 20-100 % of the image, flip 0.5, colour jitter (0.4, 0.4,
# 0.2, 0.1) with p 0.8, grayscale 0.2, solarize 0.1 on both views and no
# blur (CIFAR-100 blurs the second view with p 0.2). View 0 goes through the
# gated path, view 1 through the dense one. 256 images per GPU.
dataset_type = 'CIFAR10'
data_root = 'data/cifar10'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    to_rgb=False)
crop_size = 32


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
# The view with Gaussian blur (p 0.2): CIFAR-100's second view.
blurred_view_pipeline = view_pipeline + [
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.2)
]
view_pipelines = [view_pipeline, view_pipeline]
train_pipeline = [
    dict(type='MultiView', num_views=[1, 1], transforms=view_pipelines),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
