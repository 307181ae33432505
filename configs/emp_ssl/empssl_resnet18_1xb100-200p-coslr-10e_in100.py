# EMP-SSL, ImageNet-100, 200 patches of 100 images (20 000 224x224 patches
# per step: several large GPUs), a 10-epoch cosine per iteration (the
# paper's table: 78.9 %).
_base_ = ['./empssl_resnet18_1xb100-20p-coslr-1e_in100.py']
num_patches = 200
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(
            type='MultiView',
            num_views=num_patches,
            transforms=[{{_base_.patch_pipeline}}]),
        dict(type='PackInputs'),
    ]))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=10, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=10)
