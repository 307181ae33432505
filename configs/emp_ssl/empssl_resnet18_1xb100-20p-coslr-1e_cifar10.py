# EMP-SSL, CIFAR-10, 20 patches of 100 images, one epoch. The original's
# "1-epoch" command trains one epoch of a 2-epoch cosine (the learning rate
# is about 0.15 when it stops); so does this config (T_max 2, max_epochs 1).
_base_ = [
    '../_base_/models/empssl_resnet18_cifar.py',
    '../_base_/datasets/cifar10_bs100_empssl.py',
    '../_base_/schedules/empssl_lars-coslr-1e.py',
    '../_base_/default_runtime.py',
]
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=100)
