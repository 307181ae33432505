# Slimmable MV-MR (not in the paper), CPU-sized for Fashion-MNIST: the plain
# MV-MR model's sizes and representations on a universally slimmable
# ResNet-18 (widths 0.25-1.0, batch statistics only, as US3L), a projector
# whose input follows the width (hidden and output widths fixed).
_base_ = ['./mvmr_resnet18_fashion-mnist.py']

model = dict(
    type='SlimMVMR',
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
        zero_init_residual=True,
        track_running_stats=False),
    neck=dict(
        _delete_=True,
        type='SlimMLPNeck',
        in_channels=256,
        hid_channels=1024,
        out_channels=1024,
        num_layers=3,
        with_bias=False,
        norm='bn',
        with_last_bn=False,
        slim_in=True,
        slim_hidden=False,
        track_running_stats=False),
    step_mode='accumulate')
