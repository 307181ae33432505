# US3L SimCLR-Momentum with a universally slimmable CIFAR ResNet-18
# (reference `cifar/us_resnet18_simclr_featdistill_cifar.yaml`).
# Projector c(512 w) -> 2048 -> BN -> ReLU -> 2048 -> BN -> ReLU -> 256 (only
# its input follows the width); predictor of the sub-networks
# 256 -> 2048 (no bias) -> BN -> ReLU -> 256; momentum teacher at width 1.0.
model = dict(
    type='US3L',
    variant='simclr',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='divisible8',
        # batch statistics in train and eval, no running stats (reference)
        track_running_stats=False,
        # default PyTorch init, as the reference CIFAR ResNet
        init_cfg=[]),
    neck=dict(
        type='SlimMLPNeck',
        in_channels=512,
        hid_channels=2048,
        out_channels=256,
        num_layers=3,
        norm='bn',
        slim_in=True,
        slim_hidden=False),
    aux_predictor=dict(
        type='SlimMLPNeck',
        in_channels=256,
        hid_channels=2048,
        out_channels=256,
        num_layers=2,
        with_bias=False,
        with_last_bias=True,
        norm='bn',
        slim_in=False,
        slim_hidden=False,
        with_avg_pool=False),
    base_loss=dict(type='InfoNCEv2DistillLoss', temperature=0.5),
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
        warmup_epochs=0),
)
