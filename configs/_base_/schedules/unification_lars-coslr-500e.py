# Unification's schedule: SGD momentum 0.9, wd 1e-4 under LARS (eta 0.02,
# clip; 1-D parameters get neither LARS nor weight decay), no weight decay
# on the gates; lr 0.3 per 256 images (0.6 for 2 x 256), 10 linear warm-up
# epochs from 0.003 then a cosine to 0, 500 epochs; fp16 mixed precision;
# the bound loss's p annealed as exp(-0.02 epoch).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='LARSSGD',
        lr=0.6,
        momentum=0.9,
        weight_decay=1e-4,
        eta=0.02,
        clip=True),
    paramwise_cfg=dict(custom_keys={'.gate.': dict(decay_mult=0.)}))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.005,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=490,
        by_epoch=True,
        begin=10,
        end=500,
        eta_min=0.),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=500)
custom_hooks = [dict(type='GateAnnealHook', alpha=0.02)]
# SyncBN across the GPUs, as the paper's DDP runs.
sync_bn = 'torch'
auto_scale_lr = dict(base_batch_size=512)
