# MV-MR, the paper's STL-10 recipe (89.67 % linear top-1 with flip TTA):
# ResNet-50 with the small-kernel stem (3x3 stride 1, max-pool kept), the
# five hand-crafted representations at 96x96, batch 256 in total (e.g.
# `bash tools/dist_train.sh CONFIG 4` with train_dataloader.batch_size=64),
# Adam 1e-4, 10 warm-up epochs, cosine to 1000, AMP.
_base_ = [
    '../_base_/models/mvmr_resnet50.py',
    '../_base_/datasets/stl10_bs256_mvmr.py',
    '../_base_/schedules/mvmr_adam-warmup-coslr-1000e.py',
    '../_base_/default_runtime.py',
]
model = dict(
    backbone=dict(type='SmallKernelResNet'))
default_hooks = dict(checkpoint=dict(interval=50, max_keep_ckpts=3))
