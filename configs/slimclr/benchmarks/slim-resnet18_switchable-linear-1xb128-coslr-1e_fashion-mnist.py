# Per-width linear probe for the Fashion-MNIST SlimCLR-MoCoV2 checkpoint
# (configs/slimclr/slimclr-mocov2_slim-resnet18_1xb64-coslr-2e_fashion-mnist.py):
# the one-epoch probe of `make demo` over a frozen switchable ResNet-18 (one BN
# per width, channels int(C w), the reference 64 channels), one linear
# classifier per width. Every width has its own BN statistics from
# pre-training, so nothing is calibrated (spec B.7). Pass the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../../us3l/benchmarks/'
    'slim-resnet18-c32_switchable-linear-1xb128-coslr-1e_fashion-mnist.py'
]

widths = (1.0, 0.75, 0.5, 0.25)
model = dict(
    backbone=dict(
        _delete_=True,
        type='SlimResNet',
        depth=18,
        stem='imagenet',
        in_channels=1,
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        frozen_stages=4,
        out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    head=dict(in_channels=512, channel_rule='int'))
custom_hooks = []
