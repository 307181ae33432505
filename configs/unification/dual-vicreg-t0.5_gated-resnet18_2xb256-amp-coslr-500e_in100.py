# Unification, ImageNet-100, the paper's recipe at t = 0.5: GatedResNet-18
# with the ImageNet stem (dense 1.81E9 MACs at 224), 2 GPUs x 256 images,
# LARS, 500 epochs, fp16, SyncBN (the paper: dense 76.42 / gated 76.24 at
# 47.69 % MACs). Targets 0.3 and 0.4 are child configs.
_base_ = [
    '../_base_/models/dual-vicreg_gated-resnet18_cifar.py',
    '../_base_/datasets/imagenet100_bs256_unification.py',
    '../_base_/schedules/unification_lars-coslr-500e.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(stem='imagenet', stem_padding=None))
model_wrapper_cfg = dict(type='MMDistributedDataParallel')
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=2))
