# The per-width Fashion-MNIST probe, shrunk for tool tests: 8-channel stem,
# batch 8, one epoch, two calibration batches per width. Tests pass the data
# root and the pretrained checkpoint with --cfg-options.
_base_ = [
    '../../../configs/benchmarks/linear_probe/'
    'slim-resnet18_switchable-linear-1xb128-coslr-3e_fashion-mnist.py'
]

widths = (1.0, 0.75, 0.5, 0.25)
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    head=dict(in_channels=64))

train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)
test_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)

custom_hooks = [
    dict(
        type='BNCalibrationHook',
        widths=widths,
        num_batches=2,
        before=(),
        before_train=True)
]
train_cfg = dict(max_epochs=1)
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
