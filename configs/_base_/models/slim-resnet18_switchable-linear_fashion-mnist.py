# Per-width linear probe over a universally slimmable ResNet-18 (US3L
# channel rule) for 28x28 grey images: ImageNet stem (7x7/2 + max-pool),
# frozen backbone, one linear classifier per width (SlimCLR's switchable
# probe) with a parameter-free BN in front of each.
probe_widths = (1.0, 0.75, 0.5, 0.25)
model = dict(
    type='MultiWidthImageClassifier',
    widths=probe_widths,
    step_mode='accumulate',
    loss_weighting='uniform',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='imagenet',
        in_channels=1,
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='divisible8',
        frozen_stages=4,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='SwitchableLinearClsHead',
        num_classes=10,
        in_channels=512,
        widths=probe_widths,
        channel_rule='divisible8',
        distill_weight=0.5,
        feature_norm=True,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))
