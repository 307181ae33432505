# SlimCLR-MoCoV3, slimmable ResNet-50, 300 epochs on ImageNet (8 x 128).
# Sub-networks start at epoch 150 (slow start), where the LR amplitude is
# raised from 1.2 to 3.2 as in the reference script.
_base_ = [
    '../_base_/models/slimclr_mocov3_slim-resnet50.py',
    '../_base_/datasets/imagenet_bs128_mocov3.py',
    '../_base_/default_runtime.py',
]

widths = [1.0, 0.75, 0.5, 0.25]  # the list of the model base
max_epochs = 300
slow_start_epoch = 150

custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='SlowStartSampler',
            sampler=widths,
            start_epoch=slow_start_epoch)),
    # The reference trains with SyncBN: every BN (the switchable ones too)
    # normalises with the statistics of the whole 8x128 batch. mmengine's own
    # sync_bn would replace switchable BN by plain SyncBatchNorm layers.
    dict(type='SyncSlimBNHook', implementation='torch'),
]
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)

# LARS; norm parameters and biases get neither weight decay nor the trust
# ratio (switchable BNs are named `...bn*.switch_bns.*`).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='LARS', lr=1.2, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))

# Per-iteration cosine with a 10-epoch warmup; from the slow start on the
# same cosine phase with amplitude 3.2 (`slim_start_lr` of the reference).
param_scheduler = [
    dict(
        type='SlowStartCosineLR',
        warmup=10,
        slow_start=slow_start_epoch,
        post_slow_start_lr=3.2,
        warmup_start_lr=1e-8,
        min_lr=1e-8,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]

train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
randomness = dict(seed=3407)
# The total batch of the reference is 8 x 128; `post_slow_start_lr` is
# absolute and is not scaled by --auto-scale-lr.
auto_scale_lr = dict(base_batch_size=1024)
