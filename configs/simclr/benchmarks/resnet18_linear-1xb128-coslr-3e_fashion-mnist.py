# Linear probe of a frozen ResNet-18 on Fashion-MNIST. Pass the pretrained
# checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# or drop `init_cfg` (`model.backbone.init_cfg=None`) for the random-init
# baseline that `make demo` prints next to it.
_base_ = [
    '../../_base_/datasets/fashion_mnist_bs128_linear.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        norm_cfg=dict(type='BN'),
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    # Parameter-free BN before the linear layer (MAE protocol): one learning
    # rate suits both a pretrained and a randomly initialised backbone.
    neck=[
        dict(type='GlobalAveragePooling'),
        dict(type='FeatureNormNeck', in_channels=512),
    ],
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=0.))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=3)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=3, max_keep_ckpts=1))
