# EMP-SSL on Fashion-MNIST for 2 CPU cores: 8 patches of 32 images per
# step (256 patches through the backbone), one epoch, the paper's optimiser.
# The paper trains CIFAR with 20-200 patches of 100 images.
_base_ = [
    '../_base_/models/empssl_resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs32_empssl.py',
    '../_base_/schedules/empssl_lars-coslr-1e.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(interval=20))
