# EMP-SSL, CIFAR-10, 20 patches of 100 images, a 30-epoch cosine.
_base_ = ['./empssl_resnet18_1xb100-20p-coslr-1e_cifar10.py']
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0, end=30,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=30)
