# The bag-of-features evaluation of slimmable EMP-SSL at four widths (the
# metrics get a width suffix, e.g. accuracy/top1@w0.5).
# Usage: python tools/test.py THIS_CONFIG PRETRAIN_CHECKPOINT
_base_ = [
    '../../_base_/models/slim-empssl_slim-resnet18_fashion-mnist.py',
    '../../_base_/datasets/fashion_mnist_empssl_bag-of-features.py',
    '../../_base_/default_runtime.py',
]
test_cfg = dict(widths=[1.0, 0.75, 0.5, 0.25])
