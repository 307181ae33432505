# Unification (VICReg-Dual), CIFAR-10, the paper's recipe: GatedResNet-18
# with the padding-2 CIFAR stem, 2 GPUs x 256 images, LARS lr 0.6, 10 warm-up
# epochs + cosine, 500 epochs, fp16, SyncBN; target t = 0.5 (the paper: dense
# 90.20 / gated 90.40 linear top-1 at 49.02 % of the dense MACs). The other
# targets are child configs (-t0.1 ... -t0.4).
_base_ = [
    '../_base_/models/dual-vicreg_gated-resnet18_cifar.py',
    '../_base_/datasets/cifar10_bs256_unification.py',
    '../_base_/schedules/unification_lars-coslr-500e.py',
    '../_base_/default_runtime.py',
]
model_wrapper_cfg = dict(type='MMDistributedDataParallel')
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=2))
