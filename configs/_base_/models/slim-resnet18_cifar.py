# Universally slimmable CIFAR ResNet-18 classifier (US3L channel rule).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SlimResNet',
        depth=18,
        stem='cifar',
        width_mode='universal',
        width_range=(0.25, 1.0),
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, 5)))
