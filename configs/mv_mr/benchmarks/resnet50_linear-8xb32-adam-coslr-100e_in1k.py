# MV-MR's linear evaluation on ImageNet-1k: the STL-10 protocol with the
# standard-stem ResNet-50, random resized crops of 224 for the probe's
# training images, resize 256 + centre crop 224 for the validation set.
_base_ = ['./resnet50-sk_linear-1xb256-adam-coslr-100e_stl10.py']
model = dict(
    backbone=dict(type='ResNet'), head=dict(num_classes=1000))
data_preprocessor = dict(num_classes=1000)
train_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='ImageNet',
        data_root='data/imagenet',
        split='train',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=224, backend='pillow'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackInputs'),
        ]))
val_dataloader = dict(
    batch_size=32,
    dataset=dict(
        _delete_=True,
        type='ImageNet',
        data_root='data/imagenet',
        split='val',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=256, edge='short',
                 backend='pillow'),
            dict(type='CenterCrop', crop_size=224),
            dict(type='PackInputs'),
        ]))
test_dataloader = val_dataloader
