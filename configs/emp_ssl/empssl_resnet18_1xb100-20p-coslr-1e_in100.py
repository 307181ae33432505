# EMP-SSL, ImageNet-100, 20 patches of 100 images, one epoch of a 2-epoch
# cosine (the convention of the original's "1-epoch" runs; its README
# reports 58.5 % for this row). The cosine follows the real number of
# iterations per epoch (the original's is wrong for ImageNet-100: see
# empssl_resnet18_1xb100-200p-coslr-10e_in100-official-tmax.py).
_base_ = [
    '../_base_/models/empssl_resnet18_imagenet.py',
    '../_base_/datasets/imagenet100_bs100_empssl.py',
    '../_base_/schedules/empssl_lars-coslr-1e.py',
    '../_base_/default_runtime.py',
]
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=2, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=100)
