# EMP-SSL on Fashion-MNIST for 2 CPU cores: 8 patches of 32 images per
# step (256 patches through the backbone), one epoch, SGD with Nesterov
# momentum and a per-iteration cosine. The paper trains CIFAR with 20-200
# patches of 100 images under LARS (lr 0.3); see docs for the recipes.
_base_ = [
    '../_base_/models/empssl_resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs32_empssl.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=0.03, momentum=0.9, nesterov=True, weight_decay=1e-4),
    # 1-D parameters (BN, biases) get no weight decay, as in the paper.
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)
default_hooks = dict(logger=dict(interval=20))
auto_scale_lr = dict(base_batch_size=32)
