# SlimCLR-MoCoV3 on a slimmable ResNet-50 (switchable BN, channels int(C w)).
# The widths of the backbone, the projector, the predictor and the width
# sampler must be the same list (the model checks it).
widths = [1.0, 0.75, 0.5, 0.25]
model = dict(
    type='SlimCLRMoCoV3',
    momentum=0.99,  # cosine 0.99 -> 1 over training
    end_momentum=1.0,
    temperature=1.0,
    distill_weight=0.5,
    distill_temperature=1.0,
    loss_weighting=5,  # [2.5, 1, 1, 1]
    backbone=dict(
        type='SlimResNet',
        depth=50,
        stem='imagenet',
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        zero_init_residual=True,
        out_indices=(3, )),
    # 2048w -> 4096w -> BN -> ReLU -> 256 -> BN(affine=False), no bias
    neck=dict(
        type='SlimMLPNeck',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        with_bias=False,
        norm='switchable',
        with_last_bn=True,
        with_last_bn_affine=False,
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        init_cfg=dict(type='Normal', std=0.01, bias=0., layer='Linear')),
    # 256 -> 4096w -> BN -> ReLU -> 256, no bias
    predictor=dict(
        type='SlimMLPNeck',
        in_channels=256,
        hid_channels=4096,
        out_channels=256,
        with_bias=False,
        norm='switchable',
        slim_in=False,
        with_avg_pool=False,
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        init_cfg=dict(type='Normal', std=0.01, bias=0., layer='Linear')))
