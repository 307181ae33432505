# Per-width linear probe for the Fashion-MNIST US3L checkpoint
# (configs/us3l/us3l-simclr_slim-resnet18_1xb64-coslr-1e_fashion-mnist.py):
# its backbone has half the reference channels (stem/base 32, 256 output
# features). One epoch keeps `make demo` short; BN statistics of every width
# are calibrated before training, the backbone stays frozen.
_base_ = ['../../benchmarks/linear_probe/'
          'slim-resnet18_switchable-linear-1xb128-coslr-3e_fashion-mnist.py']

model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    head=dict(in_channels=256))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True)
]
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=1, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1))
