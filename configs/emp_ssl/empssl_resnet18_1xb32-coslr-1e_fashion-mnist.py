# EMP-SSL on Fashion-MNIST for 2 CPU cores: 8 patches of 32 images per
# step (256 patches through the backbone), one epoch. The paper's optimiser:
# SGD lr 0.3, Nesterov momentum 0.9, wd 1e-4 under LARS (eta 0.005, clip;
# 1-D parameters get neither LARS nor weight decay), cosine per iteration,
# no warm-up. The paper trains CIFAR with 20-200 patches of 100 images.
_base_ = [
    '../_base_/models/empssl_resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs32_empssl.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='LARSSGD',
        lr=0.3,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-4,
        eta=0.005,
        clip=True))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)
default_hooks = dict(logger=dict(interval=20))
auto_scale_lr = dict(base_batch_size=32)
