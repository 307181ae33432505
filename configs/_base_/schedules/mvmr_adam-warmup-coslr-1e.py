# MV-MR's optimiser and schedule shrunk to one CPU epoch: Adam (wd 1e-6 as
# the paper) at lr 1e-3 -- the paper's 1e-4 is for 1000 epochs -- warmed up
# linearly from 1e-6 over the first 10 % of the epoch, then cosine to 1e-6,
# per iteration.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-6))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=0.1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=0.9,
        eta_min=1e-6,
        by_epoch=True,
        begin=0.1,
        end=1,
        convert_to_iter_based=True),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)
