# SlimCLR-MoCoV2 on a slimmable ResNet-50 (switchable BN, channels int(C w)).
# The widths of the backbone, the projector and the width sampler must be
# the same list (the model checks it).
widths = [1.0, 0.75, 0.5, 0.25]
model = dict(
    type='SlimCLRMoCoV2',
    queue_len=65536,
    feat_dim=128,
    momentum=0.999,
    temperature=0.2,
    # (1 - beta) NCE_w + beta KD_w for the sub-widths; the default KD sees
    # the contrastive logits l / tau at T = 1. The reference distils the raw
    # cosines at T = 5: kd_on_raw_cosines=True, distill_temperature=5.
    distill_weight=0.5,
    distill_temperature=1.0,
    kd_on_raw_cosines=False,
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
    neck=dict(
        type='SlimMLPNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=128,
        norm='none',
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        init_cfg=dict(type='Normal', std=0.01, bias=0., layer='Linear')))
