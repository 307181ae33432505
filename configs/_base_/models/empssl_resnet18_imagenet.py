# EMP-SSL for 224x224 images: the CIFAR model with the unmodified ImageNet
# stem (7x7/2 + max-pool) of ResNet-18; images are loaded BGR, so the data
# preprocessor converts them to RGB before the 0.5/0.5 normalisation.
_base_ = ['./empssl_resnet18_cifar.py']
model = dict(
    data_preprocessor=dict(to_rgb=True),
    backbone=dict(_delete_=True, type='ResNet', depth=18, out_indices=(3, )))
