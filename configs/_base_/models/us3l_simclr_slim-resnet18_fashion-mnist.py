# US3L SimCLR-Momentum, CPU-sized for 28x28 grey Fashion-MNIST: slimmable
# ResNet-18 with the ImageNet stem (7x7/2 + max-pool; a stride-1 CIFAR stem
# costs ~16x more on 28x28) and 1 input channel. Smaller than the reference
# to keep an iteration cheap on 2 CPU cores: half the channels (stem/base 32,
# so the backbone outputs 256 features at full width) and a projector /
# predictor of 512 hidden and 128 output features (reference 2048 / 256).
model = dict(
    type='US3L',
    variant='simclr',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='imagenet',
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='divisible8',
        track_running_stats=False),
    neck=dict(
        type='SlimMLPNeck',
        in_channels=256,
        hid_channels=512,
        out_channels=128,
        num_layers=3,
        norm='bn',
        slim_in=True,
        slim_hidden=False),
    aux_predictor=dict(
        type='SlimMLPNeck',
        in_channels=128,
        hid_channels=512,
        out_channels=128,
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
    step_mode='per_width',
    group_reg=dict(
        type='GroupRegLoss',
        lambda_=5e-5,
        alpha=0.05,
        bins=8,
        decay_type='linear',
        warmup_epochs=0),
)
