# EMP-SSL, CIFAR-10, 20 patches, one epoch, with kachayev's re-implementation
# quirk: solarize at threshold 192 instead of the official 128 (spec 2.2),
# for comparison only; the parent config is the paper's.
_base_ = ['./empssl_resnet18_1xb100-20p-coslr-1e_cifar10.py']
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(
            type='MultiView',
            num_views={{_base_.num_patches}},
            transforms=[{{_base_.patch_pipeline_solarize192}}]),
        dict(type='PackInputs'),
    ]))
