# Unification's VICReg-Dual for 28x28 grey images: the VICReg model of the
# dense baseline with a GatedResNet-18 (ImageNet stem, half the channels;
# BN copies per path) and the MACs budget t (a child config sets it).
_base_ = ['./vicreg_resnet18_fashion-mnist.py']
target = 0.5
model = dict(
    type='DualBranchVICReg',
    backbone=dict(
        _delete_=True,
        type='GatedResNet',
        depth=18,
        stem='imagenet',
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        separate_bn=True,
        gate_tau=0.66667),
    budget_loss=dict(type='FLOPsBudgetLoss', target=target, loss_weight=5.),
    bound_loss=dict(
        type='BlockDensityBoundLoss', target=target, loss_weight=1.),
    symmetric=False)
