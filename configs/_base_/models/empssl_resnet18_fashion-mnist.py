# EMP-SSL, CPU-sized for 28x28 grey Fashion-MNIST: ResNet-18 with the
# ImageNet stem and 1 input channel at half the channels (256 output
# features), a pre-feature of 1024 and a projection to 256 (the paper:
# 512 -> 4096 -> 4096 -> 1024), invariance weight 200, TCR eps 0.2.
model = dict(
    type='EMPSSL',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[127.5],
        std=[127.5],
        to_rgb=False),
    backbone=dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        out_indices=(3, )),
    neck=dict(
        type='LinearNeck',
        in_channels=256,
        out_channels=1024,
        gap_dim=2,
        norm_cfg=dict(type='BN1d'),
        act_cfg=dict(type='ReLU')),
    projector=dict(
        type='NonLinearNeck',
        in_channels=1024,
        hid_channels=1024,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    invariance_loss=dict(type='PatchInvarianceLoss', loss_weight=200.),
    tcr_loss=dict(type='TotalCodingRateLoss', eps=0.2))
