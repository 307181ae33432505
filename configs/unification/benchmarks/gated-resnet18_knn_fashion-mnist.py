# kNN evaluation of one path of a Unification checkpoint on Fashion-MNIST
# (the paper's protocol: backbone features, k = 1 euclidean with weights
# 1 / (d + 1e-5), and k = 20), plus the gated path's achieved MACs on the
# test set. The path is `model.backbone.path` ('dense' or 'gated').
# Usage: python tools/test.py THIS_CONFIG PRETRAIN_CHECKPOINT
_base_ = [
    '../../_base_/models/dual-vicreg_gated-resnet18_fashion-mnist.py',
    '../../_base_/datasets/fashion_mnist_bs128_linear.py',
    '../../_base_/default_runtime.py',
]
model = dict(
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[72.94],
        std=[90.0],
        to_rgb=False),
    backbone=dict(path='gated'))
memory_dataloader = dict(
    batch_size=256,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='FashionMNIST',
        data_root='data/fashion_mnist',
        split='train',
        test_mode=False,
        pipeline=[dict(type='PackInputs')]))
test_evaluator = [
    dict(
        type='KNNAccuracy',
        memory_dataloader=memory_dataloader,
        knn_cfgs=[
            dict(k=1, distance='euclidean'),
            dict(k=20, distance='euclidean'),
        ]),
    dict(type='GatedMACs'),
]
test_cfg = dict()
custom_hooks = [dict(type='KNNMemoryHook')]
train_dataloader = None
train_cfg = None
optim_wrapper = None
val_dataloader = None
val_cfg = None
val_evaluator = None
# The images tools/model_converters/export_gated.py calibrates on (the
# train split; the held-out images are the test split).
calib_dataloader = memory_dataloader
