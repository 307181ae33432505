# MV-MR's optimiser and schedule: Adam lr 1e-4, wd 1e-6, AMP; linear warm-up
# from 1e-6 over 10 epochs, then cosine to 1e-6 at epoch 1000, stepped every
# iteration. The horizon comes from the real number of iterations per
# epoch of this rank's dataloader (convert_to_iter_based), so it ends with
# training under DDP and with gradient accumulation; the original's horizon
# (un-sharded batches per epoch, every batch counted as a step) is only in
# the `*-official-horizon` configs.
lr = 1e-4
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='Adam', lr=lr, weight_decay=1e-6))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / lr,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=990,
        eta_min=1e-6,
        by_epoch=True,
        begin=10,
        end=1000,
        convert_to_iter_based=True),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1000)
# BN statistics over all GPUs (the original runs DDP with Lightning's
# sync_batchnorm): the runner converts every BN when distributed.
sync_bn = 'torch'
