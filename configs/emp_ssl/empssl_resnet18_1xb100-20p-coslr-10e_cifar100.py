# EMP-SSL, CIFAR-100, 20 patches of 100 images, a 10-epoch cosine.
_base_ = ['./empssl_resnet18_1xb100-20p-coslr-10e_cifar10.py']
train_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
