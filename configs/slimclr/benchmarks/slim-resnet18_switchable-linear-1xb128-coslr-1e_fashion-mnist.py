# Per-width linear probe for the Fashion-MNIST SlimCLR-MoCoV2 checkpoint
# (configs/slimclr/slimclr-mocov2_slim-resnet18_1xb64-coslr-2e_fashion-mnist.py):
# a frozen switchable ResNet-18 (one BN per width, channels int(C w)), one
# linear classifier per width. Every width has its own BN statistics from
# pre-training, so nothing is calibrated (spec B.7). Pass the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../../benchmarks/linear_probe/'
          'slim-resnet18_switchable-linear-1xb128-coslr-3e_fashion-mnist.py']

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
    head=dict(channel_rule='int'))
custom_hooks = []
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=1, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1))
