# Fashion-MNIST (28x28 grey) as MV-MR's pair of views: the image through the
# evaluation transform (x_o: nothing but normalisation) and one augmented
# view (x_a). mmcv's colour jitter needs RGB input, so the augmented view is
# the `custom` recipe without colour: random resized crop (area 0.08-1),
# flip and a Gaussian blur that is always applied.
# Prepare with `python tools/data/prepare_fashion_mnist.py`.
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[72.94],
    std=[90.0],
    to_rgb=False)

original_pipeline = []
augmented_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.08, 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=1.0),
]
train_pipeline = [
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[original_pipeline, augmented_pipeline]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    # dCor and the variance hinge need >= 2 images in every batch.
    drop_last=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        pipeline=train_pipeline))
