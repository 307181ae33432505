# Slimmable MV-MR (not in the paper) on Fashion-MNIST for 2 CPU cores: the
# MV-MR objective per width of a universally slimmable ResNet-18 (3 sandwich
# widths in [0.25, 1.0] per iteration, accumulated into one Adam step). No
# teacher: every width is tied by dCor to the same hand-crafted
# representations. Views, optimiser and schedule as the plain config.
_base_ = [
    '../_base_/models/slim-mvmr_slim-resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs64_mvmr.py',
    '../_base_/schedules/mvmr_adam-warmup-coslr-1e.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='SandwichSampler', width_range=(0.25, 1.0), num_samples=3)),
]
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
