# EMP-SSL's bag-of-features evaluation on Fashion-MNIST, CPU-sized: every
# image is the mean pre-feature h of 16 patches drawn with the training
# augmentation (the paper: 128), then a linear probe on the cached features
# (SGD 0.03, momentum 0.9, wd 5e-5, batch 100, cosine; 100 epochs as the
# paper, cheap on cached features) and a weighted kNN (k 20, T 0.07).
# Usage: python tools/test.py THIS_CONFIG PRETRAIN_CHECKPOINT
_base_ = [
    '../../_base_/models/empssl_resnet18_fashion-mnist.py',
    '../../_base_/datasets/fashion_mnist_empssl_bag-of-features.py',
    '../../_base_/default_runtime.py',
]
