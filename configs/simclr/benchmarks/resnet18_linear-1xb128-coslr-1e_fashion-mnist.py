# Linear probe (one epoch) of the frozen half-channel ResNet-18 of
# configs/simclr/simclr_resnet18_1xb64-coslr-1e_fashion-mnist.py. Pass the
# pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
# or drop `init_cfg` (`model.backbone.init_cfg=None`) for the random-init
# baseline that `make demo-simclr` prints next to it.
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
        stem_channels=32,
        base_channels=32,
        norm_cfg=dict(type='BN'),
        frozen_stages=4,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    # Parameter-free BN before the linear layer (MAE protocol): one learning
    # rate suits both a pretrained and a randomly initialised backbone.
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
default_hooks = dict(
    logger=dict(interval=100),
    checkpoint=dict(interval=1, max_keep_ckpts=1))
