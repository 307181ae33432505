# Per-width linear probe (SlimCLR's switchable probe, spec B.7) of a frozen,
# universally slimmable ResNet-18 on Fashion-MNIST, at widths 1.0/0.75/0.5/
# 0.25. Pass the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# (loaded strictly: a checkpoint of another architecture fails before
# training). The backbone shares its BNs across widths, so the BN statistics
# of every width are calibrated on training batches before training (the
# frozen backbone then never changes them); they are stored in the backbone's
# state dict, and the per-width val/test loops load them.
_base_ = [
    '../../_base_/models/slim-resnet18_switchable-linear_fashion-mnist.py',
    '../../_base_/datasets/fashion_mnist_bs128_linear.py',
    '../../_base_/default_runtime.py',
]

widths = (1.0, 0.75, 0.5, 0.25)
model = dict(
    widths=widths,
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    head=dict(widths=widths))

custom_hooks = [
    dict(
        type='BNCalibrationHook',
        widths=widths,
        num_batches=20,
        before=(),
        before_train=True)
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=3,
        by_epoch=True,
        begin=0,
        end=3,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=3, val_interval=3)
val_cfg = dict(type='MultiWidthValLoop', widths=widths)
test_cfg = dict(type='MultiWidthTestLoop', widths=widths)
# Under DDP each width's forward uses only its own classifier.
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=3, max_keep_ckpts=1))
