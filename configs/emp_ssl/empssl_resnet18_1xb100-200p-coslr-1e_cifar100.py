# EMP-SSL, CIFAR-100, 200 patches of 100 images (20 000 patches per step: a
# large GPU), one epoch of a 2-epoch cosine as the original (paper: 57.7 %).
_base_ = ['./empssl_resnet18_1xb100-200p-coslr-1e_cifar10.py']
train_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
