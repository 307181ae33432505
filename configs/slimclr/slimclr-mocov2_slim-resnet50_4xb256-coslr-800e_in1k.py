# SlimCLR-MoCoV2, slimmable ResNet-50, 800 epochs on ImageNet (4 x 256).
# The 200-epoch recipe with a 4x longer schedule: sub-networks start at epoch
# 400 (slow start); from there on all four widths are trained every
# iteration with one optimizer step.
_base_ = ['./slimclr-mocov2_slim-resnet50_4xb256-coslr-200e_in1k.py']

max_epochs = 800
slow_start_epoch = 400

# Lists replace their base entirely; only the epochs differ from the base.
custom_hooks = [
    dict(
        type='WidthSamplingHook',
        sampler=dict(
            type='SlowStartSampler',
            sampler={{_base_.widths}},
            start_epoch=slow_start_epoch)),
]
param_scheduler = [
    dict(
        type='SlowStartCosineLR',
        warmup=10,
        slow_start=slow_start_epoch,
        post_slow_start_lr=0.2,
        warmup_start_lr=1e-8,
        min_lr=1e-8,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
