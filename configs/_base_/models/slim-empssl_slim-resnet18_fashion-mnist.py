# Slimmable EMP-SSL (not in the paper), CPU-sized for Fashion-MNIST: the
# plain EMP-SSL model's sizes on a universally slimmable ResNet-18 (widths
# 0.25-1.0, batch statistics only, as US3L), a pre-feature whose input
# follows the width, and in-place distillation of the narrower widths.
_base_ = ['./empssl_resnet18_fashion-mnist.py']

model = dict(
    type='SlimEMPSSL',
    backbone=dict(
        _delete_=True,
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
    # h = ReLU(BN(Linear(features))): the Linear's input follows the width.
    neck=dict(
        _delete_=True,
        type='SlimMLPNeck',
        in_channels=256,
        hid_channels=1024,
        out_channels=1024,
        num_layers=1,
        with_last_bn=True,
        slim_in=True,
        slim_hidden=False,
        track_running_stats=False),
    distill_weight=1.0,
    step_mode='accumulate')
