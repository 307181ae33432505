# Linear probe (one epoch) of the frozen ResNet-18 of the Fashion-MNIST
# MV-MR configs: the SimCLR probe (same backbone, parameter-free BN before
# the linear layer, SGD). The last epoch is reported; the original's
# flip test-time augmentation is `tools/test.py ... --tta` (its own column).
# Pass the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../../simclr/benchmarks/'
          'resnet18_linear-1xb128-coslr-1e_fashion-mnist.py']
