# Unification, CIFAR-100, the paper's recipe at t = 0.5: the CIFAR-10 one on
# CIFAR-100, with Gaussian blur (p 0.2) on the second (dense) view only, as
# the original (the paper: dense 66.41 / gated 66.40 at 49.06 % MACs).
_base_ = ['./dual-vicreg-t0.5_gated-resnet18_2xb256-amp-coslr-500e_cifar10.py']
train_dataloader = dict(
    dataset=dict(
        type='CIFAR100',
        data_root='data/cifar100',
        pipeline=[
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[
                    {{_base_.view_pipeline}},
                    {{_base_.blurred_view_pipeline}},
                ]),
            dict(type='PackInputs'),
        ]))
