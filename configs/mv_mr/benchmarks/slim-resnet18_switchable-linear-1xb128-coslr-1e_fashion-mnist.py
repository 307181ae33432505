# Per-width linear probe (one epoch, BN statistics calibrated per width) of
# the slimmable MV-MR Fashion-MNIST checkpoint: the US3L demo's probe (same
# half-channel slimmable ResNet-18). Pass the pretrained checkpoint with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../../us3l/benchmarks/slim-resnet18-c32_switchable-linear-'
          '1xb128-coslr-1e_fashion-mnist.py']
