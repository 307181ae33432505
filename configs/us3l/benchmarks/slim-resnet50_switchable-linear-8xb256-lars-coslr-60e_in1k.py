# US3L's ImageNet linear evaluation (spec 1.8-1.9) of the universally
# slimmable ResNet-50: BN statistics per width calibrated first (501
# batches of SSL-style views, EMA momentum 0.1, as the original's
# `calibrate` step), one independent linear classifier per width, LARS (SGD
# lr 0.8, momentum 0.9, no weight decay, trust coefficient 0.001, no
# clipping), a cosine per epoch over 60 epochs, 8 GPUs x 256. The last
# epoch is reported.
_base_ = ['../../slimclr/benchmarks/'
          'slim-resnet50_switchable-linear-4xb256-steplr-100e_in1k.py']
widths = (1.0, 0.75, 0.5, 0.25)
model = dict(
    backbone=dict(
        width_mode='universal',
        width_range=(0.25, 1.0),
        channel_rule='divisible8'),
    head=dict(channel_rule='divisible8', distill_weight=0.))
calib_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.08, 1.),
        backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.4,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.5),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
custom_hooks = [
    dict(
        type='BNCalibrationHook',
        widths=widths,
        num_batches=501,
        mode='ema',
        ema_momentum=0.1,
        dataloader=dict(
            batch_size=128,
            num_workers=8,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(
                type='ImageNet',
                data_root='data/imagenet',
                split='train',
                pipeline=calib_pipeline)),
        before=(),
        before_train=True)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='LARSSGD',
        lr=0.8,
        momentum=0.9,
        weight_decay=0.,
        eta=0.001,
        clip=False))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=60, by_epoch=True, begin=0, end=60)
]
train_cfg = dict(max_epochs=60, val_interval=20)
default_hooks = dict(checkpoint=dict(interval=20))
auto_scale_lr = dict(base_batch_size=2048)
