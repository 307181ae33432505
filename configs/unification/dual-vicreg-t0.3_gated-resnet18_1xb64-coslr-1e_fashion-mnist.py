# Unification (VICReg-Dual) on Fashion-MNIST for 2 CPU cores: a gated
# ResNet-18 whose gated path aims at 30 % of the dense MACs, one epoch.
# The bound loss's p decays as exp(-0.02 epoch) (GateAnnealHook); over one
# epoch it stays 1, pinning each block near sqrt(0.3) = 55 % density.
_base_ = [
    '../_base_/models/dual-vicreg_gated-resnet18_fashion-mnist.py',
    '../_base_/datasets/fashion_mnist_bs64_simclr.py',
    '../_base_/schedules/unification_lars-coslr-1e.py',
    '../_base_/default_runtime.py',
]
target = 0.3
model = dict(
    budget_loss=dict(target=target), bound_loss=dict(target=target))
custom_hooks = [dict(type='GateAnnealHook', alpha=0.02)]
default_hooks = dict(logger=dict(interval=50))
