# VICReg (dense baseline of Unification) for 28x28 grey images: a 1-channel
# ResNet-18 with the ImageNet stem and half the channels (256 features, as
# the other Fashion-MNIST configs), projector 256-512-512-512 (the paper:
# 512-2048-2048-2048), VICReg 25/25/1.
model = dict(
    type='VICReg',
    backbone=dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=256,
        hid_channels=512,
        out_channels=512,
        num_layers=3,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    loss=dict(type='VICRegLoss', sim_weight=25., var_weight=25.,
              cov_weight=1.))
