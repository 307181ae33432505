# Fashion-MNIST (28x28 grey) as EMP-SSL patches: every image gives
# `num_patches` fixed-area crops (a quarter of the image, square, resized
# to 28x28), flipped half of the time. mmcv's colour jitter needs RGB input,
# so the grey patches differ by crop and flip. Normalised to [-1, 1] by the
# model's data preprocessor (mean 127.5, std 127.5, the paper's 0.5/0.5).
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
num_patches = 8

patch_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=28,
        crop_ratio_range=(0.25, 0.25),
        aspect_ratio_range=(1., 1.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='MultiView', num_views=num_patches, transforms=[patch_pipeline]),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
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
