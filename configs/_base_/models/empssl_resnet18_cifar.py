# EMP-SSL as in the paper for 32x32 images: ResNet-18 with the 3x3
# stride-1 stem and no max-pool (512 features), pre-feature
# Linear(512, 4096)-BN-ReLU (h, the evaluation feature), projection
# Linear(4096, 4096)-BN-ReLU-Linear(4096, 1024), L2-normalised;
# L = 200 L_inv + L_TCR (eps 0.2).
model = dict(
    type='EMPSSL',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[127.5, 127.5, 127.5],
        std=[127.5, 127.5, 127.5],
        to_rgb=False),
    backbone=dict(type='ResNet_CIFAR', depth=18, out_indices=(3, )),
    neck=dict(
        type='LinearNeck',
        in_channels=512,
        out_channels=4096,
        gap_dim=2,
        norm_cfg=dict(type='BN1d'),
        act_cfg=dict(type='ReLU')),
    projector=dict(
        type='NonLinearNeck',
        in_channels=4096,
        hid_channels=4096,
        out_channels=1024,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=False,
        norm_cfg=dict(type='BN1d')),
    invariance_loss=dict(type='PatchInvarianceLoss', loss_weight=200.),
    tcr_loss=dict(type='TotalCodingRateLoss', eps=0.2))
