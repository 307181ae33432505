# Fashion-MNIST (28x28 grey) with two SimCLR-style views per image.
# mmcv's colour jitter needs RGB input, so the views differ by crop and flip.
# Prepare with `python tools/data/prepare_fashion_mnist.py`.
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[72.94],
    std=[90.0],
    to_rgb=False)

view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        pipeline=train_pipeline))
