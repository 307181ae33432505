# A tiny ImageClassifier over a SlimResNet-18, for the export/FLOPs tool tests.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['slim_plugins'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='slim_plugins.SlimResNet',
        depth=18,
        stem='cifar',
        stem_channels=16,
        base_channels=16,
        width_mode='universal',
        width_range=(0.25, 1.0),
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss')))
