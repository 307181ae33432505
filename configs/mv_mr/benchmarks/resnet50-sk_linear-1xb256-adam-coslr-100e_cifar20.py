# MV-MR's linear evaluation on CIFAR-20 (CIFAR-100 images, 20
# super-classes): the STL-10 protocol at 32x32 with CIFAR normalisation and
# the `cifar20` augmentation for the probe's training images.
_base_ = ['./resnet50-sk_linear-1xb256-adam-coslr-100e_stl10.py']
model = dict(head=dict(num_classes=20))
data_preprocessor = dict(
    num_classes=20, mean=[125.3, 122.9, 114.0], std=[63.0, 62.0, 66.6])
train_pipeline = [
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
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CIFAR20',
        data_root='data/cifar100',
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CIFAR20',
        data_root='data/cifar100',
        split='test',
        pipeline=[dict(type='PackInputs')]))
test_dataloader = val_dataloader
