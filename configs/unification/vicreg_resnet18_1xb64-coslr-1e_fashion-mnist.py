# VICReg, the dense baseline of Unification, on Fashion-MNIST for 2 CPU
# cores: one epoch, LARS (eta 0.02), lr 0.3 x 64 / 256.
_base_ = [
    '../_base_/models/vicreg_resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs64_simclr.py',
    '../_base_/schedules/unification_lars-coslr-1e.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(interval=50))
