# SlimCLR-MoCoV2's linear evaluation (spec B.6-B.7) of the switchable-BN
# ResNet-50 at widths 1.0/0.75/0.5/0.25: the backbone frozen in eval mode
# (its switchable BNs keep their pre-training statistics), one linear
# classifier per width without BN in front (`head.feature_norm=False`), the
# sub-widths distilled in place from the full-width probe (0.5 CE(label) +
# 0.5 CE(full-width softmax)), SGD lr 60, no weight decay, x0.1 at epochs
# 60 and 80, 100 epochs, 4 GPUs x 256. The last epoch is reported; the
# paper's number is the best validation epoch (every 2 epochs), a separate
# column. Pass the checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../../_base_/datasets/imagenet_bs256_linear.py',
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
        depth=50,
        stem='imagenet',
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        frozen_stages=4,
        norm_eval=True,
        out_indices=(3, ),
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='SwitchableLinearClsHead',
        num_classes=1000,
        in_channels=2048,
        widths=widths,
        channel_rule='int',
        distill_weight=0.5,
        feature_norm=False,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, 5)))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=60., momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[60, 80], gamma=0.1)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=100, val_interval=2)
val_cfg = dict(type='MultiWidthValLoop', widths=widths)
test_cfg = dict(type='MultiWidthTestLoop', widths=widths)
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=1024)
