# Plain (non-slimmable) SimCLR on Fashion-MNIST: the plumbing check behind
# `make demo-simclr`.
_base_ = [
    '../_base_/models/resnet18_fashion-mnist_simclr.py',
    '../_base_/datasets/fashion_mnist_bs64_simclr.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.6, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=False,
        begin=0,
        end=100),
    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
]

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)
default_hooks = dict(logger=dict(interval=50))
auto_scale_lr = dict(base_batch_size=64)
