# mmpretrain's SimCLR with a 1-channel ResNet-18 (ImageNet stem) for 28x28.
# The ImageNet stem (7x7/2 + max-pool) keeps an iteration cheap on 2 CPU
# cores (a stride-1 CIFAR stem costs ~16x that on 28x28 inputs), and half
# the channels (stem/base 32, 256 output features) halve it again.
model = dict(
    type='SimCLR',
    backbone=dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        norm_cfg=dict(type='BN'),
        zero_init_residual=True),
    neck=dict(
        type='NonLinearNeck',
        in_channels=256,
        hid_channels=512,
        out_channels=128,
        num_layers=2,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='ContrastiveHead',
        loss=dict(type='CrossEntropyLoss'),
        temperature=0.2),
)
