# US3L's CIFAR-100 linear evaluation (spec 1.8-1.9) of the universally
# slimmable ResNet-18 at widths 1.0/0.75/0.5/0.25 in one run: the backbone
# frozen, its BN statistics per width calibrated first (3 epochs of the
# training loader, EMA momentum 0.1, as the original), one independent
# linear classifier per width on the frozen features (no BN in front, no
# distillation: the original probes each width in its own run), SGD lr 30,
# no weight decay, x0.1 at epochs 60 and 80, 100 epochs, 4 GPUs x 128. The
# last epoch is reported. Pass the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../../_base_/datasets/cifar100_bs128_us3l-linear.py',
    '../../_base_/default_runtime.py',
]
widths = (1.0, 0.75, 0.5, 0.25)
model = dict(
    type='MultiWidthImageClassifier',
    widths=widths,
    step_mode='accumulate',
    loss_weighting='uniform',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='divisible8',
        frozen_stages=4,
        out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='SwitchableLinearClsHead',
        num_classes=100,
        in_channels=512,
        widths=widths,
        channel_rule='divisible8',
        distill_weight=0.,
        feature_norm=False,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))
# 3 epochs of 50 000 / (4 x 128) batches per width.
custom_hooks = [
    dict(
        type='BNCalibrationHook',
        widths=widths,
        num_batches=3 * 98,
        mode='ema',
        ema_momentum=0.1,
        before=(),
        before_train=True)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=30., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=100, val_interval=20)
val_cfg = dict(type='MultiWidthValLoop', widths=widths)
test_cfg = dict(type='MultiWidthTestLoop', widths=widths)
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)
default_hooks = dict(checkpoint=dict(interval=20, max_keep_ckpts=1))
