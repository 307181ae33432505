# A 2-iteration classifier on tiny generated CIFAR-10 pickles, for tool tests.
# Tests pass the data root with --cfg-options.
_base_ = ['../../../configs/_base_/default_runtime.py']

data_root = 'data/tiny_cifar'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet_CIFAR', depth=18, base_channels=8, stem_channels=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )),
    data_preprocessor=dict(
        num_classes=10,
        mean=[125.3, 123.0, 113.9],
        std=[63.0, 62.1, 66.7],
        to_rgb=False))

pipeline = [dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UncheckedCIFAR10', data_root=data_root, test_mode=False,
        pipeline=pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UncheckedCIFAR10', data_root=data_root, test_mode=True,
        pipeline=pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, deterministic=True)
