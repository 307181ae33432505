# Unification's VICReg-Dual for 32x32 images as the paper trains it: a
# GatedResNet-18 with the original's CIFAR stem (3x3, stride 1, padding 2:
# 34x34 first stage, 7.03E8 dense MACs, the base of the paper's MACs
# numbers; padding 1 is the usual ResNet and not comparable), BN copies per
# path, gates with tau 0.66667; the shared projector 512-2048-2048-2048
# (BN + ReLU between); VICReg 25/25/1; budget lambda 5 and bound gamma 1 at
# the target t (0.5 here; a child config sets it).
target = 0.5
model = dict(
    type='DualBranchVICReg',
    backbone=dict(
        type='GatedResNet',
        depth=18,
        stem='cifar',
        stem_padding=2,
        separate_bn=True,
        gate_tau=0.66667,
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=512,
        hid_channels=2048,
        out_channels=2048,
        num_layers=3,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    loss=dict(
        type='VICRegLoss', sim_weight=25., var_weight=25., cov_weight=1.),
    budget_loss=dict(type='FLOPsBudgetLoss', target=target, loss_weight=5.),
    bound_loss=dict(
        type='BlockDensityBoundLoss', target=target, loss_weight=1.),
    symmetric=False)
