# Linear probe (one epoch) of one path of the frozen GatedResNet-18 of
# configs/unification/dual-vicreg-t0.3_gated-resnet18_1xb64-coslr-1e_
# fashion-mnist.py: the path is the config key `model.backbone.path`
# ('dense' or 'gated'; the gates run in eval mode, deterministic). The test
# also reports the gated path's achieved MACs (GatedMACs). Pass the
# pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    '../../_base_/datasets/fashion_mnist_bs128_linear.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='GatedResNet',
        depth=18,
        stem='imagenet',
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        separate_bn=True,
        path='gated',
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='FeatureNormNeck', in_channels=256),
    ],
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=256,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=1, val_interval=1)
val_cfg = dict()
test_cfg = dict()
test_evaluator = [dict(type='Accuracy', topk=(1, )), dict(type='GatedMACs')]
custom_hooks = [dict(type='KNNMemoryHook')]
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
