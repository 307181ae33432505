# US3L BYOL with a universally slimmable ResNet-50 (ImageNet stem)
# (reference `imagenet/us_resnet50_byol_featdistill_imagenet.yaml`).
# Projector c(2048 w) -> 2048 -> BN -> ReLU -> 2048 (no bias) -> BN -> ReLU
# -> 2048; teacher-branch predictor and a separate predictor of the
# sub-networks ("new distill head"), both 2048 -> 2048 (no bias) -> BN ->
# ReLU -> 2048; momentum teacher at width 1.0.
model = dict(
    type='US3L',
    variant='byol',
    backbone=dict(
        type='SlimResNet',
        depth=50,
        stem='imagenet',
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='divisible8',
        track_running_stats=False),
    neck=dict(
        type='SlimMLPNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=2048,
        num_layers=3,
        with_bias=False,
        with_first_bias=True,
        with_last_bias=True,
        norm='bn',
        slim_in=True,
        slim_hidden=False),
    predictor=dict(
        type='SlimMLPNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=2048,
        num_layers=2,
        with_bias=False,
        with_last_bias=True,
        norm='bn',
        slim_in=False,
        slim_hidden=False,
        with_avg_pool=False),
    aux_predictor=dict(
        type='SlimMLPNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=2048,
        num_layers=2,
        with_bias=False,
        with_last_bias=True,
        norm='bn',
        slim_in=False,
        slim_hidden=False,
        with_avg_pool=False),
    base_loss=dict(type='NegativeCosineLoss'),
    distill_loss=dict(type='NegativeCosineLoss'),
    distill=True,
    distill_lambda=1.0,
    teacher='ema',
    momentum=0.99,
    momentum_schedule='constant',
    step_mode='per_width',
    group_reg=dict(
        type='GroupRegLoss',
        lambda_=5e-5,
        alpha=0.05,
        bins=8,
        decay_type='linear',
        warmup_epochs=50),
)
