# EMP-SSL, CIFAR-10, 200 patches of 100 images (20 000 patches per step: a
# large GPU), one epoch of a 2-epoch cosine as the original.
_base_ = ['./empssl_resnet18_1xb100-20p-coslr-1e_cifar10.py']
num_patches = 200
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(
            type='MultiView',
            num_views=num_patches,
            transforms=[{{_base_.patch_pipeline}}]),
        dict(type='PackInputs'),
    ]))
