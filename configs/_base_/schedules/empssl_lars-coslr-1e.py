# EMP-SSL's optimiser: SGD lr 0.3, Nesterov momentum 0.9, wd 1e-4 under LARS
# (eta 0.005, clip; 1-D parameters get neither LARS nor weight decay), a
# cosine per iteration over one epoch, no warm-up.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='LARSSGD',
        lr=0.3,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-4,
        eta=0.005,
        clip=True))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True)
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)
auto_scale_lr = dict(base_batch_size=32)
