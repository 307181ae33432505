# EMP-SSL, CIFAR-100, 20 patches of 100 images, one epoch of a 2-epoch
# cosine (as the original's "1-epoch" run); the CIFAR-10 recipe otherwise.
_base_ = ['./empssl_resnet18_1xb100-20p-coslr-1e_cifar10.py']
train_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
