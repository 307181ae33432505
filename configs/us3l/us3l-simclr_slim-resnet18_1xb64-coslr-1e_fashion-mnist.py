# US3L (SimCLR-Momentum) on Fashion-MNIST, sized for 2 CPU cores: the
# slimmable pre-training behind `make demo`: one epoch of 937 iterations
# (0.45-0.7 s each on 2 cores; use `train_dataloader.dataset.indices=N` for a
# shorter run, more epochs for better features). The half-width
# backbone (see the model base) costs about what the plain SimCLR demo's
# ResNet-18 does per iteration. A sandwich of 3 widths in [0.25, 1.0] per
# iteration (the 4-stage schedule "A" needs >= 4 epochs), one SGD step per
# width, distillation to the EMA teacher, GroupReg.
_base_ = [
    '../_base_/models/us3l_simclr_slim-resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs64_simclr.py',
    '../_base_/default_runtime.py',
]

# Reference lr 0.5 for 512 images, scaled linearly to 64. GroupReg replaces
# weight decay: US3L sets it to 0 at the first step (and logs it).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.0625, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)

custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='SandwichSampler', width_range=(0.25, 1.0), num_samples=3)),
]
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)

default_hooks = dict(logger=dict(interval=50))
auto_scale_lr = dict(base_batch_size=64)
