# Slimmable (switchable-BN) ResNet-50 classifier, SlimCLR's widths and
# channel rule int(C * w).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SlimResNet',
        depth=50,
        stem='imagenet',
        width_mode='switchable',
        widths=(1.0, 0.75, 0.5, 0.25),
        channel_rule='int',
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2048,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, 5)))
