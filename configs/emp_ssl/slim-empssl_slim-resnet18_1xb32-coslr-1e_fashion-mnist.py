# Slimmable EMP-SSL (not in the paper) on Fashion-MNIST for 2 CPU cores: the
# EMP-SSL objective per width of a universally slimmable ResNet-18 (widths
# 0.25-1.0, 3 sandwich widths per iteration, accumulated into one step),
# the narrower widths also distilled in place towards the widest width's
# patch embeddings. Patches, optimiser and schedule as the plain config.
_base_ = [
    '../_base_/models/slim-empssl_slim-resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs32_empssl.py',
    '../_base_/schedules/empssl_lars-coslr-1e.py',
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
default_hooks = dict(logger=dict(interval=20))
